"""The status bar: which model is loaded on which device, and the running job with its progress and Cancel;
and the log of every job (``app.jobs.JobLog``) that the Jobs panel draws."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from latent_studio.app.executor import JobProgress
from latent_studio.app.jobs import JobLog


class JobStatus:
    """Fills a window's status bar; routes a job's progress to whoever watches that job id."""

    def __init__(self, bar: QStatusBar, inference) -> None:
        self.inference = inference
        self.model_label = QLabel("Model: loading…")
        self.device_label = QLabel("")
        self.job_label = QLabel("")
        self.job_bar = QProgressBar(maximumWidth=180)
        self.job_cancel = QToolButton(text="Cancel", toolTip="Cancel the running job")
        self.job_cancel.clicked.connect(inference.cancel_jobs)
        bar.addWidget(self.model_label)
        bar.addWidget(self.device_label)
        bar.addPermanentWidget(self.job_label)
        bar.addPermanentWidget(self.job_bar)
        bar.addPermanentWidget(self.job_cancel)
        self._watchers: dict[int, Callable[[JobProgress], None]] = {}
        self.log = JobLog()
        inference.job_added.connect(self.log.added)
        inference.progress.connect(self._on_progress)
        inference.jobs_changed.connect(self._on_jobs_changed)
        self._on_jobs_changed()

    def watch(self, job_id: int, watcher: Callable[[JobProgress], None]) -> None:
        """Also send this job's progress to ``watcher`` (e.g. the assets panel for an embedding)."""
        self._watchers[job_id] = watcher

    def show_model(self, text: str, device: str = "") -> None:
        self.model_label.setText(text)
        self.device_label.setText(device)

    def _on_progress(self, progress: JobProgress) -> None:
        self.job_label.setText(f"{progress.name}: {progress.done}/{progress.total}")
        self.job_bar.setRange(0, max(1, progress.total))
        self.job_bar.setValue(progress.done)
        self.log.progressed(progress)
        watcher = self._watchers.get(progress.job_id)
        if watcher is not None:
            watcher(progress)

    def _on_jobs_changed(self) -> None:
        jobs = self.inference.busy_jobs
        for widget in (self.job_label, self.job_bar, self.job_cancel):
            widget.setVisible(bool(jobs))
        if jobs:
            waiting = f" (+{len(jobs) - 1} waiting)" if len(jobs) > 1 else ""
            self.job_label.setText(f"{jobs[0].name}{waiting}")
        self.log.refresh(jobs)
        running = {job.id for job in jobs}
        for job_id in [i for i in self._watchers if i not in running]:
            del self._watchers[job_id]
