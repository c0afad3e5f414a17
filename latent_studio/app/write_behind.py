"""Frames handed to the writer on its own thread, a bounded number ahead, so encoding overlaps the next decode.

Why a thread: encoding (PyAV's codecs, zlib for PNG, a Lanczos upscale)
and the decode (torch) both release the GIL, so while the writer encodes
one batch the caller decodes the next. The queue holds at most ``depth``
items, so a slow disk holds the decode back rather than filling memory.

Errors: the writer thread's exception is raised again in the caller, as
itself (an ``OutputError`` stays one), at its next ``put`` or at ``finish``;
items after it are dropped. Leaving the block with an exception (a cancel, an
error of the frame source) stops the thread after the item it is writing and
joins it, so the caller's ``abort`` never races a write. ``depth=0`` writes
inline, on the caller's thread (the benchmark's baseline).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class WriteBehind(Generic[T]):
    """``with WriteBehind(consume, depth) as behind: behind.put(item) ...; behind.finish()``."""

    def __init__(self, consume: Callable[[T], None], depth: int) -> None:
        self._consume = consume
        self._inline = depth <= 0
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latent-studio-writer", daemon=True)

    def __enter__(self) -> "WriteBehind[T]":
        if not self._inline:
            self._thread.start()
        return self

    def put(self, item: T) -> None:
        """Hand over one item (blocks while ``depth`` wait); raises the writer's error if it has failed."""
        if self._inline:
            self._consume(item)
            return
        self._raise_error()
        self._queue.put(item)  # never blocks for good: the thread keeps taking items, after an error too

    def finish(self) -> None:
        """Wait until every item is written; raises the writer's error if it failed."""
        self._close()
        self._raise_error()

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self._stop.set()  # drop what waits; the item being written is finished first
        self._close()

    def _close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None and not self._stop.is_set():
                try:
                    self._consume(item)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
                    self._error = exc
