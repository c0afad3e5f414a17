"""Model > Discover directions...: a job, then a gallery; the ticked directions join the sliders in one undo step."""


from latent_studio.ui import discovery_dialog


def test_discovered_directions_are_named_kept_and_undone_as_one_step(window, qtbot, monkeypatch):
    monkeypatch.setattr(discovery_dialog, "COUNT", 2)
    monkeypatch.setattr(discovery_dialog, "SAMPLES", 64)
    before = dict(window.session.project.directions)
    task = window.spawn(discovery_dialog.discover(window), "Discover directions")
    qtbot.waitUntil(task.done, timeout=120_000)
    dialog = task.result()
    assert len(dialog.keep) == 2 and dialog.names[0].text() == "Component 1"
    dialog.keep[1].setChecked(True)
    dialog.names[1].setText("Lighting")
    dialog.accept()
    added = [d for key, d in window.session.project.directions.items() if key not in before]
    assert [(d.name, d.origin, d.unit) for d in added] == [("Lighting", "user", "std")]
    assert any(name.startswith("Lighting") for _, name in window.timeline.tracks())
    window.undo()
    assert dict(window.session.project.directions) == before


def test_discover_head_turn_adds_one_slider_in_one_undo_step(window, qtbot, monkeypatch):
    import pytest

    pytest.importorskip("ai_edge_litert")
    monkeypatch.setattr(discovery_dialog, "HEAD_TURN_SAMPLES", 64)
    before = dict(window.session.project.directions)
    task = window.spawn(discovery_dialog.discover_head_turn_flow(window), "Discover head turn")
    qtbot.waitUntil(task.done, timeout=120_000)
    added = window.session.project.directions[task.result()]
    assert added.name == "Head turn (found)" and added.origin == "user" and added.unit == "eye widths"
    window.undo()
    assert dict(window.session.project.directions) == before
