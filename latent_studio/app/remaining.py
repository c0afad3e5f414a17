"""How long a job has left, from its progress so far: the estimate behind every "12 s left"."""

from __future__ import annotations

import time
from typing import Callable

BURST_SECONDS = 0.5  # reports closer than this to the first piece done belong to its burst (a batch's frames)


class RemainingTime:
    """Seconds left, assuming the rest of the work goes at the pace of the work since the first piece was done.

    The first piece carries the start-up (loading the model, warming up, a first batch), and pieces often arrive in
    bursts (a batch of frames at once): counted in, they made a 15 s render say "106 s left". So the pace is
    measured from the last report of the first burst, and is ``None`` until there is a pace to go by.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.restart()

    def restart(self) -> None:
        self.first: float | None = None  # when the first piece was done
        self.anchor: tuple[float, int] | None = None  # (time, done) the pace is measured from
        self.rate: float | None = None  # pieces per second at that pace

    def update(self, done: int, total: int) -> float | None:
        now = self.clock()
        if done <= 0:
            return None
        if self.first is None:
            self.first = now
        if now - self.first < BURST_SECONDS:
            self.anchor = (now, done)
            return None
        since, done_then = self.anchor
        if done <= done_then or now <= since:
            return None
        self.rate = (done - done_then) / (now - since)
        return max(0.0, (total - done) / self.rate)


def describe_remaining(seconds: float | None) -> str:
    """'about 40 s left', 'about 3 min left', or '' when there is no estimate yet."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"
