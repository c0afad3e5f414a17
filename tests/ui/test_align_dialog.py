"""Embed a face with alignment: markers dragged onto the eyes and mouth, a live aligned preview, then an asset."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt

from tests.media.test_face_align import face_photo


def test_markers_are_dragged_the_preview_follows_and_the_aligned_face_is_embedded(window, qtbot, tmp_path):
    photo, marks = face_photo((420, 380), (210, 170), 40, 15)
    path = tmp_path / "portrait.png"
    photo.save(path)
    dialog = window.flows.align_and_embed(path)
    view = dialog.markers
    assert dialog.preview.pixmap() is not None and not dialog.preview.pixmap().isNull()  # the starting guess aligns

    start = view.screen("eye_left").toPoint()
    target = QPoint(round(marks.eye_left[0] * view.scale), round(marks.eye_left[1] * view.scale))
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    qtbot.mouseMove(view, (start + target) / 2)
    qtbot.mouseMove(view, target)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=target)
    assert abs(view.points["eye_left"].x() - marks.eye_left[0]) <= 2 / view.scale + 1

    view.set_point("eye_right", *marks.eye_right)
    between = (view.points["eye_left"] + view.points["eye_right"]) / 2
    view.set_point("mouth", between.x(), between.y())  # the mouth between the eyes: no face to align
    assert not dialog.embed_button.isEnabled() and "too close" in dialog.problem.text()
    view.set_point("mouth", *marks.mouth)
    assert dialog.embed_button.isEnabled() and dialog.problem.text() == ""

    before = len(window.session.project.assets)
    dialog.accept()
    qtbot.waitUntil(lambda: len(window.session.project.assets) == before + 1, timeout=120_000)
    asset = list(window.session.project.assets.values())[-1]
    assert json.loads(asset.metadata["align_source_size"]) == [420, 380]
    assert "prep_fit" not in asset.metadata and asset.original is not None


def test_the_markers_start_where_the_face_detector_finds_the_eyes_and_the_mouth(window):
    import math
    from pathlib import Path

    import pytest

    pytest.importorskip("ai_edge_litert")
    from tests.media.test_face_detect import EYE_LEFT, EYE_RIGHT, MOUTH

    dialog = window.flows.align_and_embed(Path(__file__).parents[1] / "media" / "astronaut.jpg")
    points = dialog.markers.points
    for name, expected in (("eye_left", EYE_LEFT), ("eye_right", EYE_RIGHT), ("mouth", MOUTH)):
        assert math.dist((points[name].x(), points[name].y()), expected) < 4.0
    assert any("face detector found" in label.text() for label in dialog.findChildren(type(dialog.problem)))
    dialog.reject()
