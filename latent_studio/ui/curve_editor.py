"""The curve editor: one direction's strength over time, with its keyframes and Bezier handles (Blender's Graph Editor).

Drag a keyframe to change its time (snapped to frames) and value; drag a
handle to shape a Bezier segment: the handle on the other side of the key
turns with it so the curve stays smooth (Alt as the drag starts breaks it). Double-click
adds a Bezier keyframe where you click, right-click sets the interpolation,
Delete removes the selected keyframe, Home frames the whole curve. One drag
is one undo step. Like every view it reads the session's project and changes
it only through undo commands.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QPushButton, QVBoxLayout, QWidget

from latent_studio.app.session import DOCUMENT, PLAYHEAD, Session
from latent_studio.core.edits import DIRECTIONS, AddKeyframe, ChangeKeyframe, RemoveKeyframe
from latent_studio.core.keyframes import Handle, Interpolation, Keyframe, valid_handles
from latent_studio.ui.errors import apply_edit
from latent_studio.ui.theme import ACCENT, SELECTED
from latent_studio.ui.timeline import INTERPOLATION_LABELS, add_interpolation_actions

LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 24  # margins around the plot, in pixels
KEY_RADIUS = 5
HANDLE_RADIUS = 4
GRAB = 7  # how close the pointer must be to take a key or a handle
MARGIN = 0.12  # of the value range, above and below


@dataclass(frozen=True)
class Grip:
    """What the pointer holds: a keyframe (``side`` None) or one of its handles ("in" or "out")."""

    time: float
    side: str | None = None


class CurvePlot(QWidget):
    error = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.track: str | None = None
        self.selected: float | None = None  # the selected keyframe's time
        self._values = (-1.0, 1.0)  # the value range shown (set when a track is chosen or framed)
        self._drag: Grip | None = None
        self._gesture: str | None = None
        self._aligned = True
        self._gestures = itertools.count(1)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumHeight(140)
        session.subscribe(self._on_session)

    def sizeHint(self) -> QSize:
        return QSize(600, 220)

    # ------------------------------------------------------------ model

    def keys(self) -> tuple[Keyframe, ...]:
        project = self.session.project
        if self.track is None or self.track not in project.directions:
            return ()
        return project.track(self.track).keyframes

    def show_track(self, track: str | None) -> None:
        self.track, self.selected = track, None
        self.frame_all()

    def frame_all(self) -> None:
        """Fit the value axis to the direction's range, every key and every handle."""
        project = self.session.project
        if self.track is None or self.track not in project.directions:
            self.update()
            return
        low, high = project.directions[self.track].strength_range
        values = [low, high] + [point.y() for key in self.keys() for point in self._data_points(key)]
        low, high = min(values), max(values)
        pad = (high - low) * MARGIN or 1.0
        self._values = (low - pad, high + pad)
        self.update()

    def _on_session(self, event: str) -> None:
        if event == DOCUMENT and self.track is not None and self.track not in self.session.project.directions:
            self.show_track(None)
        if self.selected is not None and all(k.time != self.selected for k in self.keys()):
            self.selected = None
        if event in (DOCUMENT, PLAYHEAD):
            self.update()

    # ------------------------------------------------------------ geometry (data: x seconds, y strength)

    def _plot(self) -> QRectF:
        return QRectF(LEFT, TOP, max(1.0, self.width() - LEFT - RIGHT), max(1.0, self.height() - TOP - BOTTOM))

    def to_screen(self, t: float, v: float) -> QPointF:
        plot, duration = self._plot(), self.session.project.settings.duration
        low, high = self._values
        return QPointF(plot.left() + plot.width() * t / duration, plot.bottom() - plot.height() * (v - low) / (high - low))

    def to_data(self, point: QPointF) -> tuple[float, float]:
        plot, duration = self._plot(), self.session.project.settings.duration
        low, high = self._values
        return ((point.x() - plot.left()) / plot.width() * duration,
                low + (plot.bottom() - point.y()) / plot.height() * (high - low))

    def snapped_time(self, t: float) -> float:
        settings = self.session.project.settings
        frame = min(max(0, round(t * float(settings.rate))), settings.frame_count - 1)
        return settings.frame_time(frame)

    def handles(self, index: int) -> dict[str, QPointF]:
        """The handles drawn for key ``index`` in data units: "out" when its segment is Bezier, "in" when the previous one is."""
        keys = self.keys()
        key, found = keys[index], {}
        if index + 1 < len(keys) and key.interpolation is Interpolation.BEZIER:
            out, _ = valid_handles(key, keys[index + 1])
            found["out"] = QPointF(key.time + out.dt, float(key.value) + out.dv)
        if index > 0 and keys[index - 1].interpolation is Interpolation.BEZIER:
            _, into = valid_handles(keys[index - 1], key)
            found["in"] = QPointF(key.time + into.dt, float(key.value) + into.dv)
        return found

    def _data_points(self, key: Keyframe) -> list[QPointF]:
        index = self.keys().index(key)
        return [QPointF(key.time, float(key.value))] + list(self.handles(index).values())

    def grip_at(self, pos: QPointF) -> Grip | None:
        best = None
        for index, key in enumerate(self.keys()):
            candidates = [*self.handles(index).items(), (None, QPointF(key.time, float(key.value)))]
            for side, point in candidates:
                screen = self.to_screen(point.x(), point.y())
                distance = max(abs(screen.x() - pos.x()), abs(screen.y() - pos.y()))
                if distance <= GRAB and (best is None or distance < best[0] or (distance == best[0] and side)):
                    best = (distance, Grip(key.time, side))
        return best[1] if best else None

    # ------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        plot = self._plot()
        text = palette.windowText().color()
        if self.track is None or self.track not in self.session.project.directions:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignCenter, "Choose a direction above to edit its curve.")
            painter.end()
            return
        self._paint_axes(painter, plot, text)
        painter.setClipRect(plot.adjusted(-KEY_RADIUS - 1, -KEY_RADIUS - 1, KEY_RADIUS + 1, KEY_RADIUS + 1))
        project, duration = self.session.project, self.session.project.settings.duration
        points = [self.to_screen(t, project.strength_at(self.track, t))
                  for t in (duration * i / max(1, int(plot.width()) // 2) for i in range(int(plot.width()) // 2 + 1))]
        painter.setPen(QPen(QColor(110, 150, 200), 2))
        painter.drawPolyline(QPolygonF(points))
        for index, key in enumerate(self.keys()):
            centre = self.to_screen(key.time, float(key.value))
            for point in self.handles(index).values():
                handle = self.to_screen(point.x(), point.y())
                painter.setPen(QPen(QColor(170, 170, 170), 1))
                painter.drawLine(centre, handle)
                painter.setBrush(QColor(230, 230, 230))
                painter.drawEllipse(handle, HANDLE_RADIUS, HANDLE_RADIUS)
            selected = key.time == self.selected
            painter.setPen(QPen(QColor(255, 255, 255) if selected else QColor(20, 20, 20), 1.5))
            painter.setBrush(SELECTED if selected else ACCENT)
            painter.drawEllipse(centre, KEY_RADIUS, KEY_RADIUS)
        x = self.to_screen(self.session.time, 0).x()
        painter.setPen(QPen(ACCENT, 2))
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        painter.end()

    def _paint_axes(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        grid = QColor(text)
        grid.setAlpha(40)
        low, high = self._values
        step = _nice_step((high - low) / 4)
        value = step * (low // step + 1)
        while value < high:
            y = self.to_screen(0, value).y()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(0, y - 8, LEFT - 6, 16), Qt.AlignRight | Qt.AlignVCenter, f"{value:g}")
            value += step
        duration = self.session.project.settings.duration
        step = _nice_step(duration / 6)
        t = 0.0
        while t <= duration + 1e-9:
            x = self.to_screen(t, 0).x()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(text)
            painter.drawText(QRectF(x - 30, plot.bottom() + 3, 60, BOTTOM - 4), Qt.AlignHCenter | Qt.AlignTop, f"{t:g}s")
            t += step
        painter.setPen(QPen(grid, 1))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(plot)

    # ------------------------------------------------------------ mouse and keys

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.LeftButton or self.track is None:
            return
        grip = self.grip_at(event.position())
        if grip is None:
            self.selected = None
            self.session.set_frame(round(self.snapped_time(self.to_data(event.position())[0])
                                         * float(self.session.project.settings.rate)))
        else:
            self.selected = grip.time
            self._drag, self._gesture = grip, f"curve-drag-{next(self._gestures)}"
            self._aligned = not event.modifiers() & Qt.AltModifier  # Alt as the drag starts: this handle alone
        self.update()

    def mouseMoveEvent(self, event) -> None:
        if self._drag is None:
            grip = self.grip_at(event.position())
            self.setCursor(Qt.PointingHandCursor if grip else Qt.ArrowCursor)
            return
        t, v = self.to_data(event.position())
        if self._drag.side is None:
            self._move_key(self.snapped_time(t), v)
        else:
            self._move_handle(t, v, self._aligned)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None:
            self.session.end_gesture()
            self._drag = None
            low, high = self._values
            if any(not low <= p.y() <= high for k in self.keys() for p in self._data_points(k)):
                self.frame_all()  # something was dragged out of view: bring it back

    def mouseDoubleClickEvent(self, event) -> None:
        if self.track is None or self.grip_at(event.position()) is not None:
            return
        t, v = self.to_data(event.position())
        t = self.snapped_time(t)
        if any(k.time == t for k in self.keys()):
            return
        if apply_edit(self.session, AddKeyframe(self.track, Keyframe(t, round(v, 4), Interpolation.BEZIER)), self.error.emit):
            self.selected = t

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace) and self.selected is not None and self.track is not None:
            apply_edit(self.session, RemoveKeyframe(self.track, self.selected), self.error.emit)
            self.selected = None
        elif event.key() == Qt.Key_Home:
            self.frame_all()
        else:
            super().keyPressEvent(event)

    def contextMenuEvent(self, event) -> None:
        grip = self.grip_at(QPointF(event.pos()))
        if grip is None or self.track is None:
            return
        self.selected = grip.time
        key = next(k for k in self.keys() if k.time == grip.time)
        menu = QMenu(self)
        add_interpolation_actions(menu, {key.interpolation}, lambda i, t=key.time: self.set_interpolation(t, i))
        menu.addSeparator()
        menu.addAction("Delete", lambda t=key.time: apply_edit(self.session, RemoveKeyframe(self.track, t), self.error.emit))
        menu.exec(event.globalPos())

    # ------------------------------------------------------------ edits

    def set_interpolation(self, time: float, interpolation: Interpolation) -> None:
        apply_edit(self.session, ChangeKeyframe(self.track, time, {"interpolation": interpolation},
                                                f"Set interpolation: {INTERPOLATION_LABELS[interpolation]}"), self.error.emit)

    def _move_key(self, time: float, value: float) -> None:
        grip = self._drag
        if time != grip.time and any(k.time == time for k in self.keys()):
            time = grip.time  # another key is there: keep the time, still follow the value
        if apply_edit(self.session, ChangeKeyframe(self.track, grip.time, {"time": time, "value": round(value, 4)},
                                                   "Move keyframe", self._gesture), self.error.emit):
            self._drag, self.selected = Grip(time), time

    def _move_handle(self, t: float, v: float, aligned: bool) -> None:
        """Set the held handle to point at (t, v); an aligned opposite handle keeps its length in time and turns."""
        grip = self._drag
        keys = self.keys()
        index = next(i for i, k in enumerate(keys) if k.time == grip.time)
        key, handles = keys[index], self.handles(index)
        dt, dv = t - key.time, v - float(key.value)
        dt = max(dt, 0.0) if grip.side == "out" else min(dt, 0.0)  # a handle never crosses its key in time
        changes = {f"{grip.side}_handle": Handle(dt, dv)}
        other = "in" if grip.side == "out" else "out"
        if aligned and other in handles and dt != 0.0:
            length = handles[other].x() - key.time  # signed seconds of the opposite handle, kept
            changes[f"{other}_handle"] = Handle(length, length * dv / dt)
        apply_edit(self.session, ChangeKeyframe(self.track, key.time, changes, "Shape curve", self._gesture),
                   self.error.emit)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


class CurveEditor(QWidget):
    """The plot with a chooser of the direction it shows."""

    error = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.plot = CurvePlot(session)
        self.plot.error.connect(self.error)
        self.chooser = QComboBox()
        self.chooser.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.chooser.currentIndexChanged.connect(lambda _: self.plot.show_track(self.chooser.currentData()))
        frame = QPushButton("Frame all")
        frame.setToolTip("Fit the curve, its keys and handles (Home)")
        frame.clicked.connect(self.plot.frame_all)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.addWidget(QLabel("Direction"))
        bar.addWidget(self.chooser)
        bar.addWidget(frame)
        bar.addStretch(1)
        hint = QLabel("Drag keys and handles · double-click adds a key · Alt breaks a handle")
        hint.setEnabled(False)
        bar.addWidget(hint)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.plot, 1)
        session.subscribe(self._on_session)
        self._fill_chooser()

    def show_track(self, track: str) -> None:
        index = self.chooser.findData(track)
        if index >= 0:
            self.chooser.setCurrentIndex(index)
            self.plot.show_track(track)

    def _on_session(self, event) -> None:
        if event == DOCUMENT and DIRECTIONS in event.parts:
            self._fill_chooser()

    def _fill_chooser(self) -> None:
        current = self.chooser.currentData()
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for direction in self.session.project.directions.values():
            self.chooser.addItem(direction.name, direction.id)
        index = self.chooser.findData(current)
        self.chooser.setCurrentIndex(index if index >= 0 else 0 if self.chooser.count() else -1)
        self.chooser.blockSignals(False)
        self.plot.show_track(self.chooser.currentData())
