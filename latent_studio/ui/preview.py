"""Keeps the canvas showing the frame at the playhead, and plays the timeline.

Each change asks the inference executor for a fast draft (one pass of the
model's draft decoder when it has one, else at most the project's preview
steps of DDIM, fewer if this machine is slow; never interrupted);
when the user pauses, or releases a slider, the same frame is asked for again
at the project's final steps, so what stays on screen is what Export writes
(an embedded image's latent is exact only at the steps it was embedded with).
The refinement is interruptible: a newer draft cancels it. Results older than the one on screen are dropped. During
playback the draft's steps are chosen so one frame fits the frame interval,
and frames the worker cannot keep up with are skipped, never queued. Every
request names the final steps too: a frame whose final version is cached
(a refinement, idle-time filling) is shown final at once, so playback of a
cached range runs at the project's fps. While a refinement decodes, the
caption counts its steps ("refining: 23 of 50 steps").
"""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from latent_studio.app.executor import PreviewRequest, PreviewResult
from latent_studio.app.session import DOCUMENT, PLAYHEAD, Session
from latent_studio.core.project import FrameSpec, snapshot
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.ui.canvas import Canvas
from latent_studio.ui.errors import describe
from latent_studio.ui.sliders import past_range
from latent_studio.ui.inference import QtInference

REFINE_AFTER_MS = 200  # a pause this long counts as "the user stopped"
INTERACTIVE_BUDGET_S = 0.06  # a draft during a drag should take about this long
# Fewer steps are noise on the bundled model: against the final frame, 2 DDIM steps give 15-16 dB of
# coloured noise, 4 steps a soft but recognisable face (17-21 dB, 70-100 ms here; benchmarks/bench_preview.py).
MIN_DRAFT_STEPS = 4


def steps_text(steps: int) -> str:
    """How a frame was decoded, for its caption."""
    return "one pass of the draft decoder" if steps == DRAFT_PASS else f"{steps} steps"


def directions_past_range(project, spec: FrameSpec) -> list[str]:
    """Names of the directions the frame pushes past their sliders' range: its caption says so even when final."""
    directions = project.directions
    return [directions[i].name for i, strength in spec.strengths
            if i in directions and past_range(*directions[i].strength_range, strength)]


class PreviewController(QObject):
    shown = Signal(object)  # the PreviewResult now on the canvas

    def __init__(self, session: Session, inference: QtInference, canvas: Canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.inference = inference
        self.canvas = canvas
        self.playing = False
        self.playback_fps = 24.0
        self.seconds_per_step: float | None = None  # measured on this machine, smoothed
        self._ids = itertools.count(1)
        self._latest_id = 0
        self._shown_id = 0
        self.last_result: PreviewResult | None = None
        self._wanted = None  # (spec, project snapshot, frame) the user is looking at
        self._refine = QTimer(self, singleShot=True, interval=REFINE_AFTER_MS)
        self._refine.timeout.connect(self.refine_now)
        session.subscribe(self._on_session)
        inference.preview_ready.connect(self._on_ready, Qt.QueuedConnection)
        inference.preview_failed.connect(self._on_failed, Qt.QueuedConnection)
        inference.preview_steps.connect(self._on_steps, Qt.QueuedConnection)

    def _on_session(self, event: str) -> None:
        if event in (DOCUMENT, PLAYHEAD):
            self.update_preview()

    def draft_steps(self, spec: FrameSpec | None = None) -> int:
        """DRAFT_PASS when the model has a draft decoder (one pass, closer to the final frame than any few DDIM
        steps: 28 dB against 19 at 4 steps on the bundled model), else DDIM steps that fit the time budget.

        Not for a frame of a photo outside the model's domain: the decoder learned only the model's own pictures,
        and drafted such a photo in the wrong colours (12 dB from its final frame); a few DDIM steps stay true."""
        if getattr(self.inference.model, "draft", None) is not None and not self._outside_domain(spec):
            return DRAFT_PASS
        full = self.session.project.settings.preview_steps
        budget = 1.0 / self.playback_fps if self.playing else INTERACTIVE_BUDGET_S
        if self.seconds_per_step is None:
            return min(full, 4)
        return max(MIN_DRAFT_STEPS, min(full, int(budget / self.seconds_per_step)))

    def _outside_domain(self, spec: FrameSpec | None) -> bool:
        if spec is None:
            return False
        assets = self.session.project.assets
        return any("out_of_domain" in assets[i].metadata for i in (spec.anchor.a, spec.anchor.b) if i in assets)

    def update_preview(self) -> None:
        """Ask for a draft of the frame at the playhead now, and its refinement after a pause."""
        if self.inference.model is None:
            self.canvas.show_placeholder("Loading the model…")
            return
        spec = self.session.spec()
        if spec is None:
            self._wanted = None
            self.canvas.show_placeholder(
                "No face on the timeline yet.\n\nDrop a photo here to embed it, or click “Random face” in Assets,\n"
                "then “Place at playhead”.")
            return
        self._wanted = (spec, snapshot(self.session.project), self.session.frame)  # the worker builds the latent
        self._request(self.draft_steps(spec), interruptible=False)
        if self.canvas.image is not None:  # never leave an old frame labelled as if it were this one
            self.canvas.set_caption(f"Frame {self.session.frame}  ·  updating… (the previous picture is shown)")
        if not self.playing:
            self._refine.start()

    def refine_now(self) -> None:
        self._refine.stop()
        if self._wanted is not None and not self.playing:
            self._request(self.session.project.settings.final_steps, interruptible=True)

    def stop(self) -> None:
        """No more refinements (the window is closing)."""
        self._refine.stop()

    def _request(self, steps: int, interruptible: bool) -> None:
        spec, project, frame = self._wanted
        self._latest_id = next(self._ids)
        self.inference.request_preview(PreviewRequest(self._latest_id, spec, steps, project, frame, interruptible,
                                                      final_steps=project.settings.final_steps))

    def _on_ready(self, result: PreviewResult) -> None:
        if result.request.id < self._shown_id:
            return  # an older request finished late: never step back
        if not result.cached and result.steps:
            per_step = result.seconds / result.steps
            self.seconds_per_step = per_step if self.seconds_per_step is None else 0.7 * self.seconds_per_step + 0.3 * per_step
        self._shown_id = result.request.id
        self.last_result = result
        settings = self.session.project.settings
        if result.request.id < self._latest_id:
            quality = "updating…"  # a newer frame is on its way: this one is already out of date
        elif result.steps >= settings.final_steps:
            quality = "final quality" + (", cached" if result.cached and self.playing else "")
        else:
            quality = "draft" if self.playing else "draft, refining…"  # a pause brings the final frame
        past = directions_past_range(result.request.project, result.request.key)
        warning = f"  ·  past the slider's range: {', '.join(past)}" if past else ""
        self.canvas.show_frame(result.image, f"Frame {result.request.frame}  ·  {quality}, {steps_text(result.steps)}"
                                             f"{warning}")
        self.shown.emit(result)

    def _on_steps(self, request: PreviewRequest, done: int, total: int) -> None:
        """While the final frame of the wanted picture decodes, say how far it has come."""
        shown = self.last_result
        if request.id != self._latest_id or request.steps < self.session.project.settings.final_steps or shown is None:
            return
        if shown.request.key != request.key:
            shown_as = "the previous picture is shown"
        elif shown.steps < request.steps:
            shown_as = f"draft, {steps_text(shown.steps)}"
        else:
            return  # the final frame is already on screen
        # A decode beside its source runs the source's trajectory too (engine/source_attention.py), so the job counts
        # more steps than the frame has: say how far, in the frame's own steps.
        steps = done * request.steps // total if total else 0
        self.canvas.set_caption(f"Frame {request.frame}  ·  {shown_as}; refining: {steps} of {request.steps} steps")

    def _on_failed(self, request: PreviewRequest, error: BaseException) -> None:
        self.canvas.show_placeholder(f"This frame cannot be previewed:\n{describe(error)}")


class PlaybackController(QObject):
    """Advances the playhead by wall-clock time at the project's fps; loops or stops at the end."""

    playing_changed = Signal(bool)

    def __init__(self, session: Session, preview: PreviewController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.preview = preview
        self.loop = True
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._start_frame = 0
        self._start_time = 0.0

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def play(self) -> None:
        if self.playing or self.session.project.anchors == ():
            return
        fps = float(self.session.project.settings.rate)
        if self.session.frame >= self.session.frame_count - 1:
            self.session.set_frame(0)
        self._start_frame, self._start_time = self.session.frame, time.perf_counter()
        self.preview.playing, self.preview.playback_fps = True, fps
        self._timer.start(max(5, int(500 / fps)))  # poll twice a frame; the frame comes from the clock
        self.playing_changed.emit(True)

    def stop(self) -> None:
        if not self.playing:
            return
        self._timer.stop()
        self.preview.playing = False
        self.preview.refine_now()
        self.playing_changed.emit(False)

    def _tick(self) -> None:
        settings = self.session.project.settings
        frame = self._start_frame + int((time.perf_counter() - self._start_time) * float(settings.rate))
        if frame >= settings.frame_count:
            if not self.loop:
                self.session.set_frame(settings.frame_count - 1)
                self.stop()
                return
            frame %= settings.frame_count
        self.session.set_frame(frame)
