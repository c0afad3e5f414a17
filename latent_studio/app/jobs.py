"""The jobs a person started, as they should see them: waiting, running (with progress and time left),
done, cancelled or failed (with the reason, and a retry where one makes sense).

Headless: the Jobs panel draws a ``JobLog``; the tests drive one without a
screen. The log hears of a job when it is submitted, of its progress, and
reads the job's future once it has ended, so a cancel is "cancelled" (never
an error) and a failure keeps its one-sentence reason.
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Callable

from latent_studio.app.executor import Job, JobProgress
from latent_studio.app.messages import describe
from latent_studio.app.remaining import RemainingTime, describe_remaining
from latent_studio.core.errors import Cancelled

WAITING, RUNNING, DONE, CANCELLED, FAILED = "waiting", "running", "done", "cancelled", "failed"
KEEP_FINISHED = 30  # finished jobs kept in the list, newest first


@dataclass
class JobRecord:
    job: Job
    state: str = WAITING
    done: int = 0
    total: int = 0
    message: str = ""  # the job's latest progress message, or a failure's reason
    retry: Callable[[], None] | None = None  # how to try a failed job again, where that makes sense
    remaining: RemainingTime = field(default_factory=RemainingTime)
    seconds_left: float | None = None

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def cancellable(self) -> bool:
        return self.state in (WAITING, RUNNING) and self.job.user_cancellable

    @property
    def progress_text(self) -> str:
        if self.state == RUNNING and self.total:
            return f"{self.done}/{self.total}"
        return ""

    @property
    def time_left(self) -> str:
        return describe_remaining(self.seconds_left) if self.state == RUNNING else ""


class JobLog:
    def __init__(self) -> None:
        self.records: dict[int, JobRecord] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def added(self, job: Job) -> None:
        self.records[job.id] = JobRecord(job)
        self._changed()

    def set_retry(self, job_id: int, retry: Callable[[], None]) -> None:
        if job_id in self.records:
            self.records[job_id].retry = retry

    def progressed(self, progress: JobProgress) -> None:
        record = self.records.get(progress.job_id)
        if record is None or record.state not in (WAITING, RUNNING):
            return
        record.state, record.done, record.total = RUNNING, progress.done, progress.total
        record.message = progress.message
        record.seconds_left = record.remaining.update(progress.done, progress.total)
        self._changed()

    def refresh(self, busy: list[Job]) -> None:
        """The executor's running and waiting jobs now (the first is running); the rest have ended."""
        running = busy[0].id if busy else None
        for record in self.records.values():
            if record.state in (DONE, CANCELLED, FAILED):
                continue
            if record.job.future.done():
                record.state, record.message = _outcome(record.job)
            elif record.job.id == running:
                record.state = RUNNING
        finished = [i for i, r in self.records.items() if r.state in (DONE, CANCELLED, FAILED)]
        for job_id in finished[:-KEEP_FINISHED] if len(finished) > KEEP_FINISHED else []:
            del self.records[job_id]
        self._changed()

    def newest_first(self) -> list[JobRecord]:
        return sorted(self.records.values(), key=lambda r: -r.job.id)

    def clear_finished(self) -> None:
        self.records = {i: r for i, r in self.records.items() if r.state in (WAITING, RUNNING)}
        self._changed()


def _outcome(job: Job) -> tuple[str, str]:
    future = job.future
    if future.cancelled():
        return CANCELLED, "Cancelled before it started."
    try:
        error = future.exception()
    except CancelledError:
        return CANCELLED, "Cancelled."
    if error is None:
        return DONE, ""
    if isinstance(error, Cancelled):
        return CANCELLED, "Cancelled."
    return FAILED, describe(error)
