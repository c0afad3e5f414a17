"""The inference executor seen from the GUI thread: queued signals for previews and progress, awaitable jobs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from latent_studio.app.executor import InferenceExecutor, Job, JobContext, JobProgress, PreviewRequest, PreviewResult

log = logging.getLogger("latent_studio")  # idle work that fails is logged; it is retried after the next edit


class QtInference(QObject):
    """Owns the InferenceExecutor; the worker's callbacks become signals delivered on the GUI thread."""

    preview_ready = Signal(object)  # PreviewResult
    preview_failed = Signal(object, object)  # PreviewRequest, exception
    preview_steps = Signal(object, int, int)  # PreviewRequest, DDIM steps done, steps wanted
    progress = Signal(object)  # JobProgress
    jobs_changed = Signal()  # a job was queued or ended
    job_added = Signal(object)  # Job, as it is queued

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # emitted on the worker thread; Qt queues them to this object's (the GUI) thread
        self.executor = InferenceExecutor(
            on_preview=self.preview_ready.emit,
            on_progress=self.progress.emit,
            on_preview_error=self.preview_failed.emit,
            on_idle_error=lambda error: log.warning("filling the frame cache stopped: %s", error, exc_info=error),
            on_preview_steps=self.preview_steps.emit,
        )

    @property
    def model(self):
        return self.executor.model

    def request_preview(self, request: PreviewRequest) -> None:
        self.executor.request_preview(request)

    def submit(self, name: str, work: Callable[[JobContext], Any]) -> Job:
        return self._watch(self.executor.submit(name, work))

    def load_model(self, loader, name: str = "Load model") -> Job:
        return self._watch(self.executor.load_model(loader, name))

    def _watch(self, job: Job) -> Job:
        job.future.add_done_callback(lambda _: self.jobs_changed.emit())  # from the worker: queued to the GUI
        self.job_added.emit(job)
        self.jobs_changed.emit()
        return job

    @staticmethod
    def wait(job: Job) -> asyncio.Future:
        """An asyncio future for ``job`` (the qasync loop resolves it on the GUI thread)."""
        return asyncio.wrap_future(job.future)

    @property
    def busy_jobs(self) -> list[Job]:
        return self.executor.busy_jobs

    def cancel_jobs(self) -> None:
        self.executor.cancel_jobs()

    def shutdown(self, timeout: float = 30.0) -> bool:
        return self.executor.shutdown(timeout)


__all__ = ["QtInference", "PreviewRequest", "PreviewResult", "JobProgress", "Job"]
