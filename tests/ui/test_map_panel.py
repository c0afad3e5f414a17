"""The Latent map panel: computed as a job, a click adds a sampled face, a path lays faces on the anchor track in
one undo step, colour by a direction, and the PNG export."""

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from latent_studio.core.project import ANCHOR_TRACK


def test_the_map_adds_faces_lays_a_path_and_exports(window, qtbot, tmp_path):
    panel = window.map_panel
    window.map_dock.raise_()
    panel.samples.setValue(12)
    qtbot.mouseClick(panel.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.view.latent_map is not None, timeout=120_000)
    latent_map, project = panel.view.latent_map, window.session.project
    assert len(latent_map.labels) == len(project.assets) + 12
    assert latent_map.model_hash == window.inference.model.content_hash

    sampled = next(i for i, seed in enumerate(latent_map.seeds) if seed is not None)
    before = len(project.assets)
    qtbot.mouseClick(panel.view, Qt.LeftButton, pos=panel.view.point_at(sampled).toPoint())
    assert len(project.assets) == before + 1
    added = project.assets[window.selection.active]
    assert added.seed == latent_map.seeds[sampled] and added.thumbnail
    window.undo()
    assert len(project.assets) == before

    anchors_before = window.session.project.anchors
    path = np.array([latent_map.positions[i] for i in range(len(latent_map.labels))][:6])
    panel.view.path_drawn.emit(path, 4)
    anchors = window.session.project.anchors
    assert 2 <= len(anchors) <= 4 and anchors[0].time == 0.0
    assert anchors[-1].time == window.session.project.settings.frame_time(window.session.frame_count - 1)
    window.undo()  # the whole path, new assets included, is one step
    assert window.session.project.anchors == anchors_before and len(window.session.project.assets) == before

    direction = next(iter(window.session.project.directions))
    panel.colour.setCurrentIndex(panel.colour.findData(direction))
    assert panel.view.colours is not None and len(panel.view.colours) == len(latent_map.labels)
    grab = panel.view.grab()
    assert not grab.isNull()
    out = panel.save_png(tmp_path / "map.png")
    with Image.open(out) as picture:
        assert picture.size == (1600, 1600)


def test_a_path_across_one_face_is_one_sentence_and_changes_nothing(window, qtbot):
    from latent_studio.app.latent_map import LatentMap

    latent_map = LatentMap(np.zeros((3, 2), np.float32), np.zeros((3, 8, 8, 3), np.uint8), [None] * 3, [1, 2, 3],
                           [None] * 3, np.zeros((3, 3, 64, 64), np.float32), "x")
    window.map_panel.view.set_map(latent_map)
    anchors = window.session.project.anchors
    window.map_panel.view.path_drawn.emit(np.array([[0.0, 0.0], [0.01, 0.0]]), 2)  # every place nearest point 0
    assert "at least two faces" in window.banner.text()
    assert window.session.project.anchors == anchors and ANCHOR_TRACK in dict(window.timeline.tracks())


def test_a_computed_map_is_saved_with_the_project_and_shown_on_reopening(window, qtbot, tmp_path):
    panel = window.map_panel
    panel.samples.setValue(10)
    qtbot.mouseClick(panel.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.view.latent_map is not None, timeout=120_000)
    positions = panel.view.latent_map.positions.copy()
    path = tmp_path / "with-map.lsproj"
    window.session.save(path)
    jobs = []
    window.inference.job_added.connect(jobs.append)
    assert window.workspace.open(path, ask_first=False)  # a new document object: the panel's memory is dropped
    assert panel.maps and panel.view.latent_map is not None and not jobs  # read from the file, nothing decoded
    np.testing.assert_allclose(panel.view.latent_map.positions, positions, atol=1e-6)


def test_a_cancelled_map_is_a_plain_hint_not_an_error(window, qtbot, monkeypatch):
    from latent_studio.core.errors import Cancelled
    from latent_studio.ui import map_panel

    def cancelled(*args, **kwargs):
        raise Cancelled()

    monkeypatch.setattr(map_panel, "build_map", cancelled)
    task = window.spawn(window.map_panel.compute(), "Latent map")
    qtbot.waitUntil(task.done, timeout=60_000)
    assert "cancelled" in window.map_panel.hint.text() and not window.banner.isVisible()
    assert window.map_panel.compute_button.isEnabled() and window.session.project.latent_map is None
