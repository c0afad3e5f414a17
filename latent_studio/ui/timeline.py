"""The timeline: a ruler in frames and seconds, the playhead, the anchor track and one track per direction.

Keyframes are diamonds (a square for hold, a circle for bezier): click to
select (Shift adds), drag to move (snapped to frames; one drag is one undo
step), Delete removes the selection, double-click an empty spot to add one,
right-click for the interpolation. Clicking or dragging the ruler scrubs.
Ctrl+wheel zooms the time axis around the pointer, the wheel then pans, and
View > Timeline: whole length shows everything again. A band under the ruler
shows which frames the cache holds: final frames in green, drafts in amber.
The end of the timeline is a grip: drag it to change the length (snapped to
frames, one undo step). I and O set the in and out points at the playhead
(what Export renders); the frames outside them are shaded. A face's keyframe
offers even pace for the morph that starts there. Everything drawn is read
from the session's project; every change is an undo command applied through
the session.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

from latent_studio.app.cache_fill import DRAFT, FINAL, CacheStatus
from latent_studio.app.selection import Selection
from latent_studio.app.session import DOCUMENT, PLAYHEAD, Session
from latent_studio.core.edits import AddKeyframe, Batch, ChangeKeyframe, ChangeSettings, RemoveKeyframe, track_keyframes
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import ANCHOR_TRACK, MAX_DURATION
from latent_studio.ui.audio_track import PEAKS_PER_SECOND
from latent_studio.ui.errors import apply_edit
from latent_studio.ui.theme import ACCENT, SELECTED

HEADER_WIDTH = 150
RULER_HEIGHT = 28
ROW_HEIGHT = 30
PAD = 10
KEY_RADIUS = 6
CACHE_BAND = 3  # pixels, at the foot of the ruler
END_GRIP = 5  # pixels either side of the timeline's end that grab it
CACHE_COLOURS = {FINAL: QColor(80, 190, 110), DRAFT: QColor(225, 170, 60)}
ZOOM_STEP = 1.25  # per wheel notch or menu step
MIN_VISIBLE_FRAMES = 4  # zoomed in as far as it goes: this many frames across the track area
AUDIO_ROW_HEIGHT = 40
WAVEFORM, BEAT = QColor(110, 160, 220), QColor(235, 200, 90)
BEAT_SNAP = 8  # pixels: a dragged keyframe this close to a beat lands on it

INTERPOLATION_LABELS = {
    Interpolation.HOLD: "Hold", Interpolation.LINEAR: "Linear", Interpolation.BEZIER: "Bezier",
    Interpolation.EASE_IN: "Ease in", Interpolation.EASE_OUT: "Ease out", Interpolation.EASE_IN_OUT: "Ease in-out",
}


def add_interpolation_actions(menu: QMenu, current: set[Interpolation], choose) -> None:
    """One checkable action per interpolation (checked when every selected key has it); ``choose(interpolation)``."""
    for interpolation, label in INTERPOLATION_LABELS.items():
        action = QAction(label, menu, checkable=True, checked=current == {interpolation})
        action.triggered.connect(lambda _=False, i=interpolation: choose(i))
        menu.addAction(action)


@dataclass(frozen=True)
class KeyRef:
    track: str
    time: float


class TimelineView(QWidget):
    error = Signal(str)
    selection_changed = Signal()
    curve_requested = Signal(str)  # a direction's id: open it in the curve editor
    pace_requested = Signal(float, bool)  # an anchor key's time; True: even pace for its segment, False: the original

    def __init__(self, session: Session, assets: Selection[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.selected_assets = assets  # the active one is the face a new anchor keyframe uses
        self.selection: set[KeyRef] = set()
        self._drag: KeyRef | None = None
        self._drag_gesture: str | None = None
        self._scrubbing = False
        self._end_drag: tuple[str, tuple[float, float]] | None = None  # (gesture, the visible seconds when it began)
        self._gestures = itertools.count(1)
        self._window: tuple[float, float] | None = None  # the visible seconds when zoomed in; None: the whole length
        self.cache_status: CacheStatus | None = None  # which frames the cache holds (drawn under the ruler)
        self.audio = None  # ui.audio_track.AudioTrack: its waveform is drawn in a row under the tracks
        self.snap_to_beats = False  # dragged keyframes snap to the audio's onsets
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        session.subscribe(self._on_session)

    # ------------------------------------------------------------ model

    def tracks(self) -> list[tuple[str, str]]:
        project = self.session.project
        return [(ANCHOR_TRACK, "Face (anchor)")] + [
            (d.id, f"{d.name} ({d.unit})" if d.unit else d.name) for d in project.directions.values()
        ]

    def _on_session(self, event: str) -> None:
        if event == DOCUMENT:
            self._prune_selection()
            self.updateGeometry()
            self.setFixedHeight(self.sizeHint().height())
        if event in (DOCUMENT, PLAYHEAD):
            self.update()

    def _prune_selection(self) -> None:
        valid = {KeyRef(t, k.time) for t, _ in self.tracks() for k in track_keyframes(self.session.project, t)}
        if not self.selection <= valid:
            self.selection &= valid
            self.selection_changed.emit()

    def set_cache_status(self, status: CacheStatus | None) -> None:
        self.cache_status = status
        self.update()

    def set_audio(self, track) -> None:
        self.audio = track
        track.changed.connect(self._audio_changed)

    def _audio_changed(self) -> None:
        self.updateGeometry()
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def has_audio_row(self) -> bool:
        return bool(self.session.project.settings.audio_path)

    def sizeHint(self) -> QSize:
        audio = AUDIO_ROW_HEIGHT if self.has_audio_row() else 0
        return QSize(600, RULER_HEIGHT + ROW_HEIGHT * len(self.tracks()) + audio + 4)

    # ------------------------------------------------------------ geometry

    def _span(self) -> tuple[float, float]:
        return HEADER_WIDTH + PAD, max(HEADER_WIDTH + PAD + 1.0, self.width() - PAD)

    def visible(self) -> tuple[float, float]:
        """The seconds shown across the track area (the whole length unless zoomed in)."""
        if self._end_drag is not None:
            return self._end_drag[1]  # held still while the end is dragged, so the grip follows the pointer
        duration = self.session.project.settings.duration
        if self._window is None:
            return 0.0, duration
        start, end = self._window
        width = min(end - start, duration)
        start = min(max(0.0, start), duration - width)
        return start, start + width

    def x_of(self, t: float) -> float:
        left, right = self._span()
        start, end = self.visible()
        return left + (right - left) * (t - start) / (end - start)

    def t_of(self, x: float) -> float:
        left, right = self._span()
        start, end = self.visible()
        return start + (x - left) / (right - left) * (end - start)

    def frame_at(self, x: float) -> int:
        settings = self.session.project.settings
        return max(0, min(settings.frame_count - 1, round(self.t_of(x) * float(settings.rate))))

    # ------------------------------------------------------------ zoom and pan

    def zoom(self, factor: float, around: float | None = None) -> None:
        """Show ``factor`` times less time (more detail), keeping the time at x = ``around`` where it is."""
        settings = self.session.project.settings
        start, end = self.visible()
        x = self.x_of(self.session.time) if around is None else around
        anchor = self.t_of(x)
        width = min(settings.duration, max(MIN_VISIBLE_FRAMES / float(settings.rate), (end - start) / factor))
        if width >= settings.duration:
            self._window = None
        else:
            left, right = self._span()
            fraction = (x - left) / (right - left)
            self._window = (anchor - fraction * width, anchor - fraction * width + width)
            self._window = self.visible()  # clamped into the timeline
        self.update()

    def pan(self, fraction: float) -> None:
        """Move the visible window by ``fraction`` of its width (negative: towards the start)."""
        if self._window is not None:
            start, end = self.visible()
            shift = fraction * (end - start)
            self._window = (start + shift, end + shift)
            self._window = self.visible()
            self.update()

    def show_whole_length(self) -> None:
        self._window = None
        self.update()

    def wheelEvent(self, event) -> None:
        notches = event.angleDelta().y() / 120 or event.angleDelta().x() / 120
        if event.modifiers() & Qt.ControlModifier:
            self.zoom(ZOOM_STEP ** notches, event.position().x())
        elif self._window is not None and notches:
            self.pan(-0.1 * notches)
        else:
            super().wheelEvent(event)
            return
        event.accept()

    def time_at(self, x: float) -> float:
        return self.session.project.settings.frame_time(self.frame_at(x))

    def row_of(self, y: float) -> int | None:
        row = int((y - RULER_HEIGHT) // ROW_HEIGHT)
        return row if y >= RULER_HEIGHT and 0 <= row < len(self.tracks()) else None

    def key_position(self, ref: KeyRef) -> QPointF:
        row = [t for t, _ in self.tracks()].index(ref.track)
        return QPointF(self.x_of(ref.time), RULER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT / 2)

    def key_at(self, pos: QPointF) -> KeyRef | None:
        row = self.row_of(pos.y())
        if row is None:
            return None
        track = self.tracks()[row][0]
        best = None
        for key in track_keyframes(self.session.project, track):
            distance = abs(self.x_of(key.time) - pos.x())
            if distance <= KEY_RADIUS + 2 and (best is None or distance < best[0]):
                best = (distance, KeyRef(track, key.time))
        return best[1] if best else None

    # ------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        self._paint_ruler(painter)
        for row, (track, name) in enumerate(self.tracks()):
            top = RULER_HEIGHT + row * ROW_HEIGHT
            band = QRectF(0, top, self.width(), ROW_HEIGHT)
            painter.fillRect(band, palette.alternateBase() if row % 2 else palette.base())
            painter.setPen(palette.windowText().color())
            painter.drawText(QRectF(8, top, HEADER_WIDTH - 12, ROW_HEIGHT), Qt.AlignVCenter | Qt.AlignLeft, name)
        painter.setClipRect(QRectF(HEADER_WIDTH, 0, self.width() - HEADER_WIDTH, self.height()))  # zoomed: keys stop here
        for row, (track, _) in enumerate(self.tracks()):
            top = RULER_HEIGHT + row * ROW_HEIGHT
            if track == ANCHOR_TRACK:
                self._paint_anchor_track(painter, top)
            else:
                self._paint_curve(painter, track, top)
            for key in track_keyframes(self.session.project, track):
                self._paint_key(painter, KeyRef(track, key.time), key)
        if self.has_audio_row():
            self._paint_audio(painter, RULER_HEIGHT + ROW_HEIGHT * len(self.tracks()))
        self._paint_work_range(painter)
        self._paint_end_grip(painter)
        x = self.x_of(self.session.time)
        painter.setPen(QPen(ACCENT, 2))
        painter.drawLine(QPointF(x, 4), QPointF(x, self.height()))
        painter.setClipping(False)
        painter.setPen(QPen(palette.mid().color(), 1))
        painter.drawLine(HEADER_WIDTH, 0, HEADER_WIDTH, self.height())
        painter.end()

    def _paint_ruler(self, painter: QPainter) -> None:
        settings = self.session.project.settings
        fps = float(settings.rate)
        painter.fillRect(QRectF(0, 0, self.width(), RULER_HEIGHT), self.palette().window())
        left, right = self._span()
        start, end = self.visible()
        pixels_per_frame = (right - left) / max(1.0, (end - start) * fps)
        seconds = next((s for s in (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if s * fps * pixels_per_frame >= 70), 600)
        major = max(1, round(seconds * fps))
        minor = next((n for n in (1, 2, 5, 10) if n * pixels_per_frame >= 6), None)
        painter.setPen(self.palette().windowText().color())
        painter.save()
        painter.setClipRect(QRectF(HEADER_WIDTH, 0, self.width() - HEADER_WIDTH, RULER_HEIGHT))
        frame = max(0, int(start * fps) - 1)
        last = min(settings.frame_count - 1, int(end * fps) + 1)
        while frame <= last:
            x = self.x_of(settings.frame_time(frame))
            if round(frame % major) == 0 or frame == 0:
                painter.drawLine(QPointF(x, RULER_HEIGHT - 12), QPointF(x, RULER_HEIGHT))
                painter.drawText(QPointF(x + 3, 12), f"{frame} · {settings.frame_time(frame):g}s")
            elif minor and frame % minor == 0:
                painter.drawLine(QPointF(x, RULER_HEIGHT - 5), QPointF(x, RULER_HEIGHT))
            frame += 1
        self._paint_cache_band(painter)
        painter.restore()
        zoomed = f"  ×{settings.duration / (end - start):.1f}" if self._window is not None else ""
        painter.drawText(QRectF(8, 0, HEADER_WIDTH - 12, RULER_HEIGHT), Qt.AlignVCenter,
                         f"{self.session.frame} / {settings.frame_count - 1}  ({self.session.time:.2f}s){zoomed}")

    def _paint_cache_band(self, painter: QPainter) -> None:
        status = self.cache_status
        if status is None or len(status.frames) != self.session.frame_count:
            return
        settings = self.session.project.settings
        half = 0.5 / float(settings.rate)
        for kind, colour in CACHE_COLOURS.items():
            for first, last in status.ranges(kind):
                x0 = self.x_of(settings.frame_time(first) - half)
                x1 = self.x_of(settings.frame_time(last) + half)
                painter.fillRect(QRectF(x0, RULER_HEIGHT - CACHE_BAND, x1 - x0, CACHE_BAND), colour)

    def _paint_work_range(self, painter: QPainter) -> None:
        settings = self.session.project.settings
        if not settings.has_work_range:
            return
        first, last = settings.work_range
        half = 0.5 / float(settings.rate)
        x0, x1 = self.x_of(settings.frame_time(first) - half), self.x_of(settings.frame_time(last) + half)
        shade = QColor(0, 0, 0, 90)
        left, right = self._span()
        painter.fillRect(QRectF(left - PAD, 0, max(0.0, x0 - left + PAD), self.height()), shade)
        painter.fillRect(QRectF(x1, 0, max(0.0, right + PAD - x1), self.height()), shade)
        painter.setPen(QPen(SELECTED, 2))
        for x, inward in ((x0, 1), (x1, -1)):  # brackets: [ at the in point, ] at the out point
            painter.drawPolyline(QPolygonF([QPointF(x + 5 * inward, 2), QPointF(x, 2), QPointF(x, RULER_HEIGHT - 2),
                                            QPointF(x + 5 * inward, RULER_HEIGHT - 2)]))

    def _paint_end_grip(self, painter: QPainter) -> None:
        x = self.x_of(self.session.project.settings.duration)
        colour = ACCENT if self._end_drag is not None else self.palette().mid().color()
        painter.setPen(QPen(colour, 2))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.setBrush(colour)
        painter.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 7)]))

    def _paint_audio(self, painter: QPainter, top: float) -> None:
        """The audio's waveform (the highest and lowest sample under each pixel) and its beats as ticks."""
        palette = self.palette()
        painter.save()
        painter.setClipping(False)
        painter.fillRect(QRectF(0, top, self.width(), AUDIO_ROW_HEIGHT), palette.window())
        painter.setPen(palette.windowText().color())
        name = Path(self.session.project.settings.audio_path).name
        loaded = self.audio is not None and self.audio.peaks is not None
        state = "" if loaded else " (not found)" if self.audio is not None and self.audio.unreadable else " …"
        painter.drawText(QRectF(8, top, HEADER_WIDTH - 12, AUDIO_ROW_HEIGHT), Qt.AlignVCenter | Qt.AlignLeft,
                         f"Audio: {name}{state}")
        painter.restore()
        if not loaded:
            return
        peaks, offset = self.audio.peaks, self.audio.offset
        middle, half = top + AUDIO_ROW_HEIGHT / 2, AUDIO_ROW_HEIGHT / 2 - 3
        left, right = self._span()
        xs = np.arange(int(left), int(right) + 1)
        start, end = self.visible()  # each pixel's start in the audio's time: t_of, for every pixel at once
        seconds = start + (xs - left) / (right - left) * (end - start) - offset
        index = np.clip((seconds * PEAKS_PER_SECOND).astype(int), 0, len(peaks))
        painter.setPen(QPen(WAVEFORM, 1))
        for x, a, b in zip(xs[:-1], index[:-1], index[1:]):
            if b > a and a < len(peaks):
                low, high = peaks[a:b, 0].min(), peaks[a:b, 1].max()
                painter.drawLine(QPointF(x, middle - high * half), QPointF(x, middle - low * half))
        painter.setPen(QPen(BEAT, 1))
        for beat in self.audio.beat_times():
            if start <= beat <= end:
                x = self.x_of(float(beat))
                painter.drawLine(QPointF(x, top + 1), QPointF(x, top + 5))

    def _paint_anchor_track(self, painter: QPainter, top: float) -> None:
        project = self.session.project
        keys = project.anchors
        for i, key in enumerate(keys):
            x0 = self.x_of(key.time)
            x1 = self.x_of(keys[i + 1].time) if i + 1 < len(keys) else self._span()[1]
            asset = project.assets.get(str(key.value))
            painter.setPen(QColor(150, 150, 150))
            label = (asset.name if asset else "?") + ("  · even pace" if key.pace and i + 1 < len(keys) else "")
            painter.drawText(QRectF(x0 + KEY_RADIUS + 3, top, max(0.0, x1 - x0 - 2 * KEY_RADIUS - 6), ROW_HEIGHT),
                             Qt.AlignVCenter | Qt.AlignLeft, label)

    def _paint_curve(self, painter: QPainter, track_id: str, top: float) -> None:
        project = self.session.project
        direction = project.directions[track_id]
        low, high = direction.strength_range
        if high <= low:
            return
        left, right = self._span()
        points = []
        for x in range(int(left), int(right) + 1, 3):
            value = project.strength_at(track_id, min(max(0.0, self.t_of(x)), project.settings.duration))
            points.append(QPointF(x, top + ROW_HEIGHT - 4 - (ROW_HEIGHT - 8) * (min(high, max(low, value)) - low) / (high - low)))
        painter.setPen(QPen(QColor(110, 150, 200, 170), 1.5))
        painter.drawPolyline(QPolygonF(points))  # QPainterPath.lineTo leaks references to None in PySide6 6.12

    def _paint_key(self, painter: QPainter, ref: KeyRef, key: Keyframe) -> None:
        centre = self.key_position(ref)
        selected = ref in self.selection
        painter.setPen(QPen(QColor(255, 255, 255) if selected else QColor(20, 20, 20), 1.5))
        painter.setBrush(SELECTED if selected else ACCENT)
        r = KEY_RADIUS
        if key.interpolation == Interpolation.HOLD:
            painter.drawRect(QRectF(centre.x() - r + 1, centre.y() - r + 1, 2 * r - 2, 2 * r - 2))
        elif key.interpolation == Interpolation.BEZIER:
            painter.drawEllipse(centre, r - 1, r - 1)
        else:
            painter.drawPolygon(QPolygonF([centre + QPointF(0, -r), centre + QPointF(r, 0), centre + QPointF(0, r),
                                           centre + QPointF(-r, 0)]))

    # ------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if event.button() != Qt.LeftButton:
            return
        if self.on_end_grip(pos.x()):
            self._end_drag = (f"timeline-length-{next(self._gestures)}", self.visible())
            self.update()
            return
        ref = self.key_at(pos)
        if ref is not None:
            if event.modifiers() & Qt.ShiftModifier:
                self.selection ^= {ref}
            elif ref not in self.selection:
                self.selection = {ref}
            self._drag, self._drag_gesture = ref, f"timeline-drag-{next(self._gestures)}"
            self.selection_changed.emit()
        else:
            if not event.modifiers() & Qt.ShiftModifier and self.selection:
                self.selection = set()
                self.selection_changed.emit()
            self._scrubbing = True
            self.session.set_frame(self.frame_at(pos.x()))
        self.update()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._end_drag is not None:
            self._drag_end_to(self.t_of(pos.x()))
        elif self._scrubbing:
            self.session.set_frame(self.frame_at(pos.x()))
        elif self._drag is not None:
            self._move_dragged(self.snapped(self.time_at(pos.x()), pos.x()))
        else:
            ref = self.key_at(pos)
            grip = self.on_end_grip(pos.x())
            self.setCursor(Qt.SizeHorCursor if grip else Qt.ArrowCursor)
            self.setToolTip(self._tooltip(ref) if ref else "Drag to change the length" if grip else "")

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None or self._end_drag is not None:
            self.session.end_gesture()
        self._drag = None
        self._scrubbing = False
        if self._end_drag is not None:
            self._end_drag = None
            self._window = None if self._window is None else self.visible()
            self.update()

    def on_end_grip(self, x: float) -> bool:
        return abs(x - self.x_of(self.session.project.settings.duration)) <= END_GRIP

    def _drag_end_to(self, seconds: float) -> None:
        """The length follows the pointer, snapped to whole frames (at least one); one drag is one undo step."""
        settings = self.session.project.settings
        frames = min(max(1, round(seconds * float(settings.rate))), int(MAX_DURATION * float(settings.rate)))
        duration = settings.frame_time(frames)
        if duration != settings.duration:
            self._apply(ChangeSettings({"duration": duration}, "Change length", self._end_drag[0]))

    # ------------------------------------------------------------ in and out points

    def set_in_point(self) -> None:
        """The in point at the playhead (an out point before it is dropped)."""
        settings, frame = self.session.project.settings, self.session.frame
        out = settings.out_frame if settings.out_frame == -1 or settings.out_frame >= frame else -1
        self._apply(ChangeSettings({"in_frame": frame, "out_frame": out}, "Set in point"))

    def set_out_point(self) -> None:
        """The out point at the playhead (an in point after it is dropped)."""
        settings, frame = self.session.project.settings, self.session.frame
        start = settings.in_frame if settings.in_frame <= frame else 0
        self._apply(ChangeSettings({"out_frame": frame, "in_frame": start}, "Set out point"))

    def clear_work_range(self) -> None:
        if self.session.project.settings.has_work_range:
            self._apply(ChangeSettings({"in_frame": 0, "out_frame": -1}, "Clear in and out points"))

    def snapped(self, time: float, x: float) -> float:
        """With beat snapping on: the frame nearest a beat within BEAT_SNAP pixels of ``x``, else ``time``."""
        if not self.snap_to_beats or self.audio is None or not len(self.audio.beats):
            return time
        beats = self.audio.beat_times()
        nearest = float(beats[np.argmin(np.abs(beats - self.t_of(x)))])
        if abs(self.x_of(nearest) - x) > BEAT_SNAP:
            return time
        settings = self.session.project.settings
        frame = min(max(0, round(nearest * float(settings.rate))), settings.frame_count - 1)
        return settings.frame_time(frame)

    def _move_dragged(self, time: float) -> None:
        ref = self._drag
        if time == ref.time or any(k.time == time for k in track_keyframes(self.session.project, ref.track)):
            return
        if not self._apply(ChangeKeyframe(ref.track, ref.time, {"time": time}, "Move keyframe", self._drag_gesture)):
            return
        self.selection = (self.selection - {ref}) | {KeyRef(ref.track, time)}
        self._drag = KeyRef(ref.track, time)

    def mouseDoubleClickEvent(self, event) -> None:
        pos = event.position()
        row = self.row_of(pos.y())
        if row is not None and pos.x() < HEADER_WIDTH:  # a track's name: its curve
            if self.tracks()[row][0] != ANCHOR_TRACK:
                self.curve_requested.emit(self.tracks()[row][0])
            return
        if row is not None and self.key_at(pos) is None:
            self.add_key(self.tracks()[row][0], self.time_at(pos.x()))

    def _tooltip(self, ref: KeyRef) -> str:
        key = next(k for k in track_keyframes(self.session.project, ref.track) if k.time == ref.time)
        value = self.session.project.assets[key.value].name if ref.track == ANCHOR_TRACK else f"{key.value:.3g}"
        return f"{value} at {ref.time:g}s · {INTERPOLATION_LABELS[key.interpolation]}"

    # ------------------------------------------------------------ edits

    def _apply(self, command) -> bool:
        return apply_edit(self.session, command, self.error.emit)

    def add_key(self, track: str, time: float) -> None:
        project = self.session.project
        if track == ANCHOR_TRACK:
            asset = self.selected_assets.active
            if asset is None:
                self.error.emit("Select a face in Assets first; the new anchor keyframe shows it.")
                return
            key = Keyframe(time, asset, Interpolation.EASE_IN_OUT)
        else:
            key = Keyframe(time, float(project.strength_at(track, time)), Interpolation.EASE_IN_OUT)
        if not self._apply(AddKeyframe(track, key)):
            return
        self.selection = {KeyRef(track, time)}
        self.selection_changed.emit()

    def delete_selection(self) -> None:
        if not self.selection:
            return
        commands = [RemoveKeyframe(r.track, r.time) for r in sorted(self.selection, key=lambda r: (r.track, r.time))]
        label = "Delete keyframe" if len(commands) == 1 else f"Delete {len(commands)} keyframes"
        self.selection = set()
        self._apply(Batch(commands, label))
        self.selection_changed.emit()

    def set_interpolation(self, refs: list[KeyRef], interpolation: Interpolation) -> None:
        commands = [ChangeKeyframe(r.track, r.time, {"interpolation": interpolation}, "Set interpolation") for r in refs]
        if commands:
            self._apply(Batch(commands, f"Set interpolation: {INTERPOLATION_LABELS[interpolation]}"))

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.delete_selection()
        else:
            super().keyPressEvent(event)

    def _add_pace_actions(self, menu: QMenu, time: float) -> None:
        keys = self.session.project.anchors
        index = [k.time for k in keys].index(time)
        if index + 1 >= len(keys) or keys[index].value == keys[index + 1].value:
            return  # no morph starts here
        menu.addSeparator()
        menu.addAction("Even pace to the next face", lambda: self.pace_requested.emit(time, True))
        if keys[index].pace:
            menu.addAction("Original pace", lambda: self.pace_requested.emit(time, False))

    def contextMenuEvent(self, event) -> None:
        pos = QPointF(event.pos())
        ref = self.key_at(pos)
        menu = QMenu(self)
        if ref is not None:
            if ref not in self.selection:
                self.selection = {ref}
                self.selection_changed.emit()
                self.update()
            refs = sorted(self.selection, key=lambda r: (r.track, r.time))
            current = {k.interpolation for r in refs for k in track_keyframes(self.session.project, r.track) if k.time == r.time}
            add_interpolation_actions(menu, current, lambda i, rs=refs: self.set_interpolation(rs, i))
            if ref.track == ANCHOR_TRACK:
                self._add_pace_actions(menu, ref.time)
            menu.addSeparator()
            menu.addAction("Delete", self.delete_selection)
        else:
            row = self.row_of(pos.y())
            if row is None:
                return
            track, time = self.tracks()[row][0], self.time_at(pos.x())
            menu.addAction(f"Add keyframe at {time:g}s", lambda: self.add_key(track, time))
            if track != ANCHOR_TRACK:
                menu.addAction("Edit curve…", lambda: self.curve_requested.emit(track))
        menu.exec(event.globalPos())
