"""The timeline's end grip and its in and out points, driven with the mouse and the keyboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from latent_studio.core.project_file import load_project
from latent_studio.ui.timeline import RULER_HEIGHT


def test_dragging_the_end_changes_the_length_in_whole_frames_as_one_undo_step(window, qtbot):
    timeline = window.timeline
    settings = window.session.project.settings
    before = settings.duration
    fps = float(settings.rate)
    y = RULER_HEIGHT + 10
    end_x = round(timeline.x_of(before))
    assert timeline.on_end_grip(end_x)
    qtbot.mousePress(timeline, Qt.LeftButton, pos=QPoint(end_x, y))
    for step in range(1, 6):  # drag left in small moves: one gesture
        qtbot.mouseMove(timeline, QPoint(end_x - 15 * step, y))
    target = timeline.t_of(end_x - 75)
    qtbot.mouseRelease(timeline, Qt.LeftButton, pos=QPoint(end_x - 75, y))
    after = window.session.project.settings
    assert after.duration < before
    assert after.duration * fps == pytest.approx(round(after.duration * fps))  # a whole number of frames
    assert after.duration == pytest.approx(target, abs=1 / fps)
    assert after.frame_count == round(after.duration * fps)
    assert timeline.visible() == (0.0, after.duration)  # the whole (shorter) timeline fills the track area again
    window.session.undo()
    assert window.session.project.settings.duration == before  # the whole drag was one step


def test_in_and_out_points_are_set_at_the_playhead_saved_and_used_by_export(window, qtbot, tmp_path):
    session = window.session
    session.set_frame(10)
    qtbot.keyClick(window, Qt.Key_I)
    session.set_frame(40)
    qtbot.keyClick(window, Qt.Key_O)
    settings = session.project.settings
    assert (settings.in_frame, settings.out_frame) == (10, 40) and settings.work_range == (10, 40)
    timeline_picture = window.timeline.grab()  # paints the shaded outside and the brackets
    assert not timeline_picture.isNull()

    dialog = window.export()
    assert (dialog.first.value(), dialog.last.value()) == (10, 40)  # Export renders the in-out range by default
    dialog.close()

    session.set_frame(5)
    qtbot.keyClick(window, Qt.Key_O)  # an out point before the in point drops the in point
    assert session.project.settings.work_range == (0, 5)
    path = session.save(tmp_path / "ranged")
    assert load_project(path).settings.work_range == (0, 5)

    window.timeline.clear_work_range()
    assert not session.project.settings.has_work_range
    session.undo()
    assert session.project.settings.work_range == (0, 5)
