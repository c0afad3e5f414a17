"""Cancellation token shared between the thread that asks and the worker that obeys."""

import threading

from latent_studio.core.errors import Cancelled


class CancelToken:
    """Thread-safe flag; workers call ``raise_if_cancelled()`` at every step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


def check(token: "CancelToken | None") -> None:
    """Cancellation point that accepts no token at all."""
    if token is not None:
        token.raise_if_cancelled()
