"""One worker thread owns the model; a preview lane and a job lane share it.

The preview lane holds at most one request: a newer one replaces a waiting
one (slider drags coalesce), and a newer one also cancels a running preview
that was marked interruptible (a slow refinement is never finished for a
position the user has already left). A preview shows the frame's final
version instead of a draft when the cache already holds it. The job lane
runs long work (load a model, embed, render, export) one job at a time;
every progress report of a job is also the point where waiting previews
are served and where a cancel takes effect, so the canvas stays live during
an export. Idle work
(filling the frame cache) runs only when both lanes are empty, and anything
that arrives cancels it at its next step.

Nothing here knows about Qt: results leave through the callbacks given to
the constructor, on the worker thread; the UI turns them into queued
signals. Job results are ``concurrent.futures.Future`` objects.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, ModelError
from latent_studio.core.project import Project
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.render import FrameCache, cached_image, render_frames


@dataclass(frozen=True)
class PreviewRequest:
    """An immutable request: a frame of a project snapshot (the caller gives it up), what the caller calls it, and how finely.

    The frame goes through the same pipeline as export (``render_frames``): its
    latent is built here on the worker, not on the GUI thread.
    """

    id: int
    key: Hashable  # what the caller knows the result by (e.g. the FrameSpec); the cache keys by content
    steps: int
    project: Project
    frame: int  # the frame of ``project`` to render
    interruptible: bool = False  # a newer request cancels this one while it runs
    final_steps: int | None = None  # a frame the cache holds at these steps is shown instead of decoding ``steps``


@dataclass(frozen=True)
class PreviewResult:
    request: PreviewRequest
    image: np.ndarray  # uint8 (H, W, 3), read-only
    seconds: float  # decode time; 0 for a cache hit
    cached: bool
    steps: int  # what the image was decoded with: the request's, or its final steps when the cache had those


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    name: str
    done: int
    total: int
    message: str = ""


class Job:
    """A handle on submitted work: its id, its cancel token and a future for its result."""

    def __init__(self, job_id: int, name: str, work: Callable[["JobContext"], Any], user_cancellable: bool = True) -> None:
        self.id = job_id
        self.name = name
        self.work = work
        self.user_cancellable = user_cancellable  # False for a model load: Cancel stops the user's work, not the app's
        self.cancel_token = CancelToken()
        self.future: Future = Future()

    def cancel(self) -> None:
        """Ask the job to stop at its next progress point (a waiting job never starts)."""
        self.cancel_token.cancel()
        self.future.cancel()  # succeeds only while it has not started


class JobContext:
    """What a job sees: the model, the frame cache, a cancel token and a progress reporter."""

    def __init__(self, executor: "InferenceExecutor", job: Job) -> None:
        self._executor = executor
        self.job = job
        self.cancel = job.cancel_token

    @property
    def model(self) -> LoadedModel:
        model = self._executor.model
        if model is None:
            raise ModelError("No model is loaded yet; wait for the model to load or pick one in Model > Choose model.")
        return model

    @property
    def cache(self) -> FrameCache:
        return self._executor.cache

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress, serve any waiting preview, and stop here if the job was cancelled."""
        self._executor._report(JobProgress(self.job.id, self.job.name, done, total, message))
        self._executor._serve_waiting_preview()
        self.cancel.raise_if_cancelled()


class InferenceExecutor:
    def __init__(
        self,
        on_preview: Callable[[PreviewResult], None],
        on_progress: Callable[[JobProgress], None] = lambda progress: None,
        on_preview_error: Callable[[PreviewRequest, BaseException], None] = lambda request, error: None,
        cache: FrameCache | None = None,
        on_idle_error: Callable[[BaseException], None] = lambda error: None,
        on_preview_steps: Callable[[PreviewRequest, int, int], None] = lambda request, done, total: None,
    ) -> None:
        self.model: LoadedModel | None = None
        self.cache = cache or FrameCache()
        self._on_preview = on_preview
        self._on_progress = on_progress
        self._on_preview_error = on_preview_error
        self._on_idle_error = on_idle_error
        self._on_preview_steps = on_preview_steps  # (request, DDIM steps done, steps wanted) while a preview decodes
        self._lock = threading.Condition()
        self._preview: PreviewRequest | None = None
        self._preview_cancel: CancelToken | None = None  # of the running interruptible preview
        self._jobs: deque[Job] = deque()
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._stopping = False
        self._idle_work: Callable[[CancelToken], bool] | None = None
        self._idle_pending = False  # the idle work may have something to do
        self._idle_cancel: CancelToken | None = None  # of the running idle work
        self._thread = threading.Thread(target=self._loop, name="latent-studio-inference", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ GUI side

    def request_preview(self, request: PreviewRequest) -> None:
        with self._lock:
            self._preview = request
            if self._preview_cancel is not None:
                self._preview_cancel.cancel()
            self._interrupt_idle_work()
            self._lock.notify()

    def set_idle_work(self, work: Callable[[CancelToken], bool] | None) -> None:
        """What the worker does when no preview or job waits: ``work(cancel)`` returns True while more remains.

        It is called again after every preview and job (they may have changed what it has to do) and after
        ``wake_idle_work``; a preview or job arriving cancels it (``Cancelled`` at its next check)."""
        with self._lock:
            self._idle_work = work
            self._idle_pending = work is not None
            self._lock.notify()

    def wake_idle_work(self) -> None:
        """The idle work has something new to do (the document or the playhead changed)."""
        with self._lock:
            self._idle_pending = self._idle_work is not None
            self._lock.notify()

    def _interrupt_idle_work(self) -> None:
        if self._idle_cancel is not None:
            self._idle_cancel.cancel()

    def submit(self, name: str, work: Callable[[JobContext], Any], user_cancellable: bool = True) -> Job:
        """Queue ``work(context)`` on the job lane; its return value or exception lands in ``job.future``."""
        job = Job(next(self._ids), name, work, user_cancellable)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the inference executor has shut down")
            self._jobs.append(job)
            self._interrupt_idle_work()
            self._lock.notify()
        return job

    def load_model(self, loader: Callable[[], LoadedModel], name: str = "Load model") -> Job:
        """Replace the model with ``loader()``'s, on the worker thread; the old one stays until the new one is ready."""

        def work(context: JobContext) -> LoadedModel:
            model = loader()
            self.model = model
            return model

        return self.submit(name, work, user_cancellable=False)

    @property
    def busy_jobs(self) -> list[Job]:
        """Jobs running or waiting, oldest first."""
        with self._lock:
            return ([self._running] if self._running else []) + list(self._jobs)

    def cancel_jobs(self) -> None:
        """The Cancel button: stop the user's jobs (embed, render, ...); a model load carries on."""
        for job in self.busy_jobs:
            if job.user_cancellable:
                job.cancel()

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel everything, stop the thread and wait for it; True once it has ended."""
        with self._lock:
            self._stopping = True
            self._preview = None
            if self._preview_cancel is not None:
                self._preview_cancel.cancel()
            self._interrupt_idle_work()
            waiting = list(self._jobs)
            self._jobs.clear()
            if self._running:
                self._running.cancel()
            self._lock.notify()
        for job in waiting:
            job.cancel()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ worker side

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and self._preview is None and not self._jobs and not self._idle_pending:
                    self._lock.wait()
                if self._stopping:
                    return
                if self._preview is None and not self._jobs:
                    idle, cancel = self._idle_work, CancelToken()
                    self._idle_cancel = cancel
                    self._idle_pending = False  # taken; a wake while it runs asks for another turn
                    job = None
                else:
                    idle = None
                    job = None if self._preview is not None else self._jobs.popleft()
                    self._running = job
                    self._idle_pending = self._idle_work is not None  # what it did may change the idle work's
            if idle is not None:
                self._run_idle(idle, cancel)
            elif job is None:
                self._serve_waiting_preview()
            else:
                self._run(job)

    def _run_idle(self, work: Callable[[CancelToken], bool], cancel: CancelToken) -> None:
        more = True
        try:
            more = bool(work(cancel))
        except Cancelled:
            pass  # something else arrived; it runs, then the idle work is asked again
        except Exception as exc:  # idle work must never stop the worker; it stops itself until woken
            more = False
            self._on_idle_error(exc)
        with self._lock:
            self._idle_cancel = None
            if more or cancel.cancelled:
                self._idle_pending = self._idle_work is not None

    def _run(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        error: BaseException | None = None
        try:
            job.cancel_token.raise_if_cancelled()
            result = job.work(JobContext(self, job))
        except BaseException as exc:  # the future carries it to whoever waits; nothing escapes the thread
            error = exc
        with self._lock:
            self._running = None  # before the future resolves: whoever it wakes sees the lane free
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    def _report(self, progress: JobProgress) -> None:
        self._on_progress(progress)

    def _serve_waiting_preview(self) -> None:
        with self._lock:
            request, self._preview = self._preview, None
            if request is None or self._stopping:
                return
            cancel = CancelToken() if request.interruptible else None
            self._preview_cancel = cancel
        try:
            result = self._render_preview(request, cancel)
        except Cancelled:
            return  # superseded: a newer request is waiting
        except Exception as exc:  # reported, never raised out of the worker
            self._on_preview_error(request, exc)
            return
        finally:
            with self._lock:
                self._preview_cancel = None
        if result is not None:
            self._on_preview(result)

    def _render_preview(self, request: PreviewRequest, cancel: CancelToken | None) -> PreviewResult | None:
        model = self.model
        if model is None:
            return None
        if request.final_steps is not None and request.final_steps != request.steps:
            final = cached_image(model, request.project, request.frame, request.final_steps, self.cache)
            if final is not None:
                return PreviewResult(request, final, 0.0, True, request.final_steps)
        started = time.perf_counter()
        frame = next(render_frames(model, request.project, [request.frame], request.steps, cache=self.cache,
                                   batch_size=1, cancel=cancel,
                                   step_progress=lambda done, total: self._on_preview_steps(request, done, total)))
        return PreviewResult(request, frame.image, 0.0 if frame.cached else time.perf_counter() - started, frame.cached,
                             request.steps)
