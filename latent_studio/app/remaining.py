"""How long a job has left, from its progress so far: the estimate behind every "12 s left"."""

from __future__ import annotations

import time
from typing import Callable


class RemainingTime:
    """Seconds left, assuming the rest of the work goes at the pace of the work done so far.

    ``None`` until there is a pace to go by (nothing done yet, or less than half a second spent).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started: float | None = None

    def restart(self) -> None:
        self.started = None

    def update(self, done: int, total: int) -> float | None:
        now = self.clock()
        if self.started is None:
            self.started = now
        spent = now - self.started
        if done <= 0 or spent < 0.5:
            return None
        return max(0.0, spent * (total - done) / done)


def describe_remaining(seconds: float | None) -> str:
    """'about 40 s left', 'about 3 min left', or '' when there is no estimate yet."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"
