"""Direction sliders: one row per direction with a numeric field, reset and a keyframe button.

A row shows the strength at the playhead. Moving it applies ``SetStrengthAt``
(one undo step per drag); the canvas previews continuously while dragging and
is refined on release.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latent_studio.app.session import DOCUMENT, PLAYHEAD, Session
from latent_studio.core.edits import AddKeyframe, RemoveKeyframe, SetStrengthAt
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.directions import Direction
from latent_studio.ui.errors import apply_edit

SLIDER_STEPS = 1000
PAST_RANGE_SLACK = 0.01  # of a range's span: a curve's small overshoot at a keyframe is not "past the range"


def past_range(low: float, high: float, value: float) -> bool:
    """Whether a strength lies past its slider's range, where the direction was not calibrated and the picture
    may stop being a face (typing past it is allowed, to exaggerate, but never silently)."""
    slack = (high - low) * PAST_RANGE_SLACK
    return not low - slack <= value <= high + slack


class DirectionRow:
    """The widgets of one direction, laid out on a grid row by the panel."""

    def __init__(self, panel: "DirectionPanel", direction: Direction) -> None:
        self.panel = panel
        self.direction_id = direction.id
        self.low, self.high = direction.strength_range
        self.label = QLabel(f"{direction.name}" + (f" ({direction.unit})" if direction.unit else ""))
        keeps = ("; decoded beside the unedited face, so light, hair and background stay"
                 if direction.source_attention_from is not None else "")
        if direction.split is not None:
            keeps += f"; one line for faces with {direction.split.condition.lower()} and one for faces without"
            if direction.split.keep is not None:
                keeps += f", and it puts back the {direction.split.condition.lower()} a long move would fade"
            keeps += (f" (the face is read from its latent: if it is read wrongly, nudge the {direction.split.condition} "
                      "slider a little the other way)")
        if direction.bends():
            keeps += "; its path curves as the examples' did, from where the face starts"
        if direction.hold is not None:
            condition = direction.hold.condition.lower()
            keeps += f"; it puts back the {condition} it would wash out, as the {direction.hold.lender} slider does"
        if direction.restore is not None:
            keeps += f"; it puts back the {direction.restore.factor.lower()} every face loses as it moves"
        self.label.setToolTip(f"{direction.method}; range {self.low:g} to {self.high:g}; from the {direction.origin}{keeps}")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(min(self.low, -1e4), max(self.high, 1e4))  # typing past the slider's range is allowed
        self.spin.setDecimals(2)
        self.spin.setSingleStep((self.high - self.low) / 40 or 0.1)
        self.spin.setKeyboardTracking(False)
        self.reset = QToolButton(text="↺", toolTip="Reset to 0 at the playhead")
        self.key = QToolButton(text="◇", toolTip="Add or remove a keyframe at the playhead (K for the last slider used)")
        self.slider.sliderPressed.connect(lambda: panel.begin_gesture(self.direction_id))
        self.slider.valueChanged.connect(lambda v: panel.set_value(self.direction_id, self.from_slider(v)))
        self.slider.sliderReleased.connect(panel.end_gesture)
        self.spin.valueChanged.connect(self._spin_changed)
        self.reset.clicked.connect(lambda: panel.set_value(self.direction_id, 0.0, own_gesture=True))
        self.key.clicked.connect(lambda: panel.toggle_key(self.direction_id))

    def _spin_changed(self, value: float) -> None:
        self.panel.set_value(self.direction_id, value, own_gesture=True)

    def from_slider(self, position: int) -> float:
        return self.low + (self.high - self.low) * position / SLIDER_STEPS

    def to_slider(self, value: float) -> int:
        if self.high == self.low:
            return 0
        return round(min(1.0, max(0.0, (value - self.low) / (self.high - self.low))) * SLIDER_STEPS)

    def show(self, value: float, keyed: bool, animated: bool) -> None:
        for widget, setter, v in ((self.slider, self.slider.setValue, self.to_slider(value)), (self.spin, self.spin.setValue, value)):
            widget.blockSignals(True)
            if not (widget is self.slider and self.slider.isSliderDown()):
                setter(v)
            widget.blockSignals(False)
        self.key.setText("◆" if keyed else "◇")
        self.label.setStyleSheet("color: #ffaa3c;" if animated else "")
        past = past_range(self.low, self.high, value)
        self.spin.setStyleSheet("color: #e0533c;" if past else "")
        self.spin.setToolTip(f"{value:g} is past this slider's range, {self.low:g} to {self.high:g}: the frames may stop "
                             "looking like a face" if past else "")


class DirectionPanel(QWidget):
    error = Signal(str)
    released = Signal()  # a drag ended: time to refine the preview
    new_direction_requested = Signal()
    arithmetic_requested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.rows: dict[str, DirectionRow] = {}
        self.last_touched: str | None = None
        self._gesture: str | None = None
        self._gestures = itertools.count(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea(widgetResizable=True)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setColumnStretch(0, 1)
        scroll.setWidget(self._grid_host)
        outer.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        self.new_direction = QPushButton("New direction…", toolTip="Mean difference of two groups of assets")
        self.arithmetic = QPushButton("Latent arithmetic…", toolTip="A new face from a - b + c")
        self.new_direction.clicked.connect(self.new_direction_requested)
        self.arithmetic.clicked.connect(self.arithmetic_requested)
        buttons.addWidget(self.new_direction)
        buttons.addWidget(self.arithmetic)
        outer.addLayout(buttons)
        session.subscribe(self._on_session)
        self.rebuild()

    # ------------------------------------------------------------ view

    def _on_session(self, event: str) -> None:
        if event == DOCUMENT and list(self.rows) != list(self.session.project.directions):
            self.rebuild()
        elif event in (DOCUMENT, PLAYHEAD):
            self.refresh()

    def rebuild(self) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.rows = {}
        for index, direction in enumerate(self.session.project.directions.values()):
            widgets = DirectionRow(self, direction)
            self.rows[direction.id] = widgets
            top = 2 * index  # name, field and buttons on one line, the slider under them at full width
            self._grid.addWidget(widgets.label, top, 0)
            self._grid.addWidget(widgets.spin, top, 1)
            self._grid.addWidget(widgets.reset, top, 2)
            self._grid.addWidget(widgets.key, top, 3)
            self._grid.addWidget(widgets.slider, top + 1, 0, 1, 4)
        if not self.rows:
            hint = QLabel("This model ships no directions. Make one from two groups of assets with “New direction…”.")
            hint.setWordWrap(True)
            hint.setObjectName("hint")
            self._grid.addWidget(hint, 0, 0, 1, 4)
        self._grid.setRowStretch(2 * len(self.rows) + 1, 1)
        self.refresh()

    def value_at_playhead(self, direction_id: str) -> float:
        return self.session.project.strength_at(direction_id, self.session.time)

    def refresh(self) -> None:
        for direction_id, row in self.rows.items():
            track = self.session.project.strengths.get(direction_id)
            keys = track.keyframes if track else ()
            row.show(self.value_at_playhead(direction_id), any(k.time == self.session.time for k in keys), bool(keys))

    # ------------------------------------------------------------ edits

    def begin_gesture(self, direction_id: str) -> None:
        self._gesture = f"slider-{direction_id}-{next(self._gestures)}"

    def end_gesture(self) -> None:
        self._gesture = None
        self.session.end_gesture()
        self.released.emit()

    def set_value(self, direction_id: str, value: float, own_gesture: bool = False) -> None:
        self.last_touched = direction_id
        gesture = None if own_gesture else (self._gesture or f"slider-{direction_id}-{next(self._gestures)}")
        if self._apply(SetStrengthAt(direction_id, self.session.time, float(value), gesture=gesture)) and own_gesture:
            self.released.emit()

    def toggle_key(self, direction_id: str | None = None) -> None:
        direction_id = direction_id or self.last_touched or next(iter(self.rows), None)
        if direction_id is None:
            return
        self.last_touched = direction_id
        t = self.session.time
        track = self.session.project.strengths.get(direction_id)
        if track is not None and any(k.time == t for k in track.keyframes):
            self._apply(RemoveKeyframe(direction_id, t))
        else:
            self._apply(AddKeyframe(direction_id, Keyframe(t, self.value_at_playhead(direction_id), Interpolation.EASE_IN_OUT)))

    def _apply(self, command) -> bool:
        return apply_edit(self.session, command, self.error.emit)
