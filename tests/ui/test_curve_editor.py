"""The curve editor: open a direction's curve from the timeline, add, drag and shape keys with the mouse."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from latent_studio.core.keyframes import Interpolation
from latent_studio.ui.timeline import ROW_HEIGHT, RULER_HEIGHT


def point(plot, t, v) -> QPoint:
    screen = plot.to_screen(t, v)
    return QPoint(round(screen.x()), round(screen.y()))


def drag(qtbot, widget, start: QPoint, end: QPoint, modifier=Qt.NoModifier) -> None:
    qtbot.mousePress(widget, Qt.LeftButton, modifier, start)
    for i in range(1, 5):
        qtbot.mouseMove(widget, start + (end - start) * i / 4)
    qtbot.mouseRelease(widget, Qt.LeftButton, modifier, end)


def test_a_track_header_opens_its_curve_and_keys_are_added_moved_and_shaped(window, qtbot):
    session = window.session
    direction = list(session.project.directions.values())[1]
    row = [t for t, _ in window.timeline.tracks()].index(direction.id)
    qtbot.mouseDClick(window.timeline, Qt.LeftButton, pos=QPoint(20, RULER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2))
    assert window.curves.plot.track == direction.id and window.curves.chooser.currentData() == direction.id
    plot = window.curves.plot
    plot.resize(800, 260)
    settings = session.project.settings
    fps = float(settings.rate)
    low, high = direction.strength_range

    for t, v in ((0.5, low), (2.0, high), (3.5, low)):  # three bezier keys where the double-clicks land
        qtbot.mouseDClick(plot, Qt.LeftButton, pos=point(plot, t, v))
    keys = session.project.track(direction.id).keyframes
    assert len(keys) == 3 and all(k.interpolation is Interpolation.BEZIER for k in keys)
    assert [k.time * fps for k in keys] == pytest.approx([round(k.time * fps) for k in keys])  # snapped to frames
    assert keys[1].value == pytest.approx(high, abs=(high - low) * 0.05)

    undo_depth = len(session.undo_stack._done)
    middle = keys[1]
    drag(qtbot, plot, point(plot, middle.time, float(middle.value)), point(plot, middle.time + 0.4, 0.5 * (low + high)))
    moved = session.project.track(direction.id).keyframes[1]
    assert moved.time > middle.time and moved.time * fps == pytest.approx(round(moved.time * fps))
    assert moved.value == pytest.approx(0.5 * (low + high), abs=(high - low) * 0.05)
    assert len(session.undo_stack._done) == undo_depth + 1  # the whole drag: one undo step

    # shape: pull the middle key's out handle up; its in handle turns with it (aligned)
    out = plot.handles(1)["out"]
    before_mid = session.project.strength_at(direction.id, 0.5 * (moved.time + 3.5))
    drag(qtbot, plot, point(plot, out.x(), out.y()), point(plot, out.x(), out.y() + 0.4 * (high - low)))
    shaped = session.project.track(direction.id).keyframes[1]
    assert shaped.out_handle is not None and shaped.out_handle.dv > 0
    assert shaped.in_handle is not None and shaped.in_handle.dt < 0
    assert shaped.in_handle.dv / shaped.in_handle.dt == pytest.approx(shaped.out_handle.dv / shaped.out_handle.dt)
    assert session.project.strength_at(direction.id, 0.5 * (moved.time + 3.5)) > before_mid  # the curve bulges up
    session.undo()
    assert session.project.track(direction.id).keyframes[1] == moved  # the shaping was one step


def test_alt_breaks_the_handle_and_delete_removes_the_selected_key(window, qtbot):
    session = window.session
    direction = next(iter(session.project.directions.values()))
    window.edit_curve(direction.id)
    plot = window.curves.plot
    plot.resize(800, 260)
    low, high = direction.strength_range
    for t, v in ((0.5, low), (2.0, high), (3.5, low)):
        qtbot.mouseDClick(plot, Qt.LeftButton, pos=point(plot, t, v))
    out = plot.handles(1)["out"]
    drag(qtbot, plot, point(plot, out.x(), out.y()), point(plot, out.x(), out.y() + 0.3 * (high - low)), Qt.AltModifier)
    key = session.project.track(direction.id).keyframes[1]
    assert key.out_handle is not None and key.in_handle is None  # the other side was left alone
    qtbot.mouseClick(plot, Qt.LeftButton, pos=point(plot, key.time, float(key.value)))
    qtbot.keyClick(plot, Qt.Key_Delete)
    assert [k.time for k in session.project.track(direction.id).keyframes] == [0.5, 3.5]
    window.curves.plot.grab()  # paints with handles and the playhead
