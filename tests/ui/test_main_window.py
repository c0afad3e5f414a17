"""The desktop app driven through its real widgets (offscreen), on the bundled demo model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from latent_studio.core.errors import Cancelled
from latent_studio.core.keyframes import Interpolation
from latent_studio.core.project import ANCHOR_TRACK
from latent_studio.core.project_file import load_project, project_bytes
from latent_studio.demo.factors import sample_factors
from latent_studio.demo.heads import render
from latent_studio.ui.timeline import ROW_HEIGHT, RULER_HEIGHT, KeyRef

from .conftest import canvas_pixels, close_window, destroy, open_window, wait_for_final


def head_image(path, seed=3):
    factors = sample_factors(np.random.default_rng(seed), 1)[0]
    Image.fromarray(render(factors, seed=seed)).save(path)
    return path


def test_opens_on_the_demo_model_with_a_face_and_nothing_to_save(window, qtbot):
    wait_for_final(qtbot, window)
    assert window.inference.model.source.spec == "toy-heads"
    assert list(window.session.project.directions)  # the model's shipped sliders
    assert len(window.session.project.assets) == 1 and not window.session.modified
    assert window.canvas.image is not None and "final quality" in window.canvas.caption
    assert "Latent Studio" in window.windowTitle() and "Untitled" in window.windowTitle()


def test_embed_an_image_through_the_assets_panel(window, qtbot, tmp_path, monkeypatch):
    image = head_image(tmp_path / "portrait.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(image)], ""))
    before = len(window.session.project.assets)
    qtbot.mouseClick(window.assets.embed, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(window.session.project.assets) == before + 1, timeout=120_000)
    asset = list(window.session.project.assets.values())[-1]
    assert asset.kind == "image" and asset.psnr > 15 and asset.original is not None
    item = window.assets.list.item(window.assets.list.count() - 1)
    assert "portrait" in item.text() and f"PSNR {asset.psnr:.1f} dB" in item.text()
    assert window.assets.current_id() == asset.id
    window.assets.compare.setChecked(True)  # before/after on the canvas
    assert window.canvas.compare is not None
    window.session.undo()
    assert len(window.session.project.assets) == before


def test_a_corrupt_dropped_file_is_reported_and_changes_nothing(window, qtbot, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    before = dict(window.session.project.assets)
    window.canvas.files_dropped.emit([broken])
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=30_000)
    assert "broken.png" in window.banner.text()
    assert window.session.project.assets == before and not window.session.modified
    assert window.reporter.messages and "Traceback" not in window.banner.text()


def test_add_move_and_delete_keyframes_on_the_timeline(window, qtbot):
    timeline = window.timeline
    direction = list(window.session.project.directions)[1]
    row = [t for t, _ in timeline.tracks()].index(direction)
    y = RULER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT // 2
    x = round(timeline.x_of(1.0))
    qtbot.mouseDClick(timeline, Qt.LeftButton, pos=QPoint(x, y))
    keys = window.session.project.strengths[direction].keyframes
    assert [k.time for k in keys] == [1.0]
    # drag it to 2 s: one undo step however many mouse moves
    qtbot.mousePress(timeline, Qt.LeftButton, pos=QPoint(x, y))
    for target in (1.3, 1.6, 2.0):
        qtbot.mouseMove(timeline, QPoint(round(timeline.x_of(target)), y))
    qtbot.mouseRelease(timeline, Qt.LeftButton, pos=QPoint(round(timeline.x_of(2.0)), y))
    assert [k.time for k in window.session.project.strengths[direction].keyframes] == [2.0]
    timeline.set_interpolation(sorted(timeline.selection, key=lambda r: r.time), Interpolation.HOLD)
    assert window.session.project.strengths[direction].keyframes[0].interpolation == Interpolation.HOLD
    window.undo()  # interpolation
    window.undo()  # the whole drag
    assert [k.time for k in window.session.project.strengths[direction].keyframes] == [1.0]
    timeline.selection = {KeyRef(direction, 1.0)}
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key_Delete)
    assert window.session.project.strengths[direction].keyframes == ()


def test_dragging_a_slider_previews_and_is_one_undo_step(window, qtbot):
    wait_for_final(qtbot, window)
    before = canvas_pixels(window)
    direction = next(iter(window.session.project.directions))
    row = window.directions.rows[direction]
    shown = []
    window.preview.shown.connect(shown.append)
    row.slider.setSliderDown(True)  # a press: the drag starts
    for position in (600, 750, 900, 1000):
        row.slider.setValue(position)
        qtbot.wait(30)
    qtbot.waitUntil(lambda: any(r.request.steps < window.session.project.settings.final_steps for r in shown), timeout=30_000)
    row.slider.setSliderDown(False)  # the release refines at once
    wait_for_final(qtbot, window)
    after = canvas_pixels(window)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 2.0, "the face should have changed"
    low, high = window.session.project.directions[direction].strength_range
    assert window.session.project.strengths[direction].base == pytest.approx(high)
    assert window.session.undo_stack.undo_label == "Set strength"
    window.undo_action.trigger()
    assert window.session.project.strengths[direction].base == 0.0
    assert not window.session.undo_stack.can_undo
    window.redo_action.trigger()
    assert window.session.project.strengths[direction].base == pytest.approx(high)


def test_keyboard_shortcuts_step_play_key_and_undo(window, qtbot):
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key_Right)
    qtbot.keyClick(window, Qt.Key_Right)
    assert window.session.frame == 2
    qtbot.keyClick(window, Qt.Key_End)
    assert window.session.frame == window.session.frame_count - 1
    qtbot.keyClick(window, Qt.Key_Home)
    assert window.session.frame == 0
    direction = next(iter(window.session.project.directions))
    window.directions.last_touched = direction
    qtbot.keyClick(window, Qt.Key_K)
    assert [k.time for k in window.session.project.strengths[direction].keyframes] == [0.0]
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert window.session.project.strengths.get(direction) is None or not window.session.project.strengths[direction].keyframes
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert [k.time for k in window.session.project.strengths[direction].keyframes] == [0.0]
    qtbot.keyClick(window, Qt.Key_Space)
    assert window.playback.playing
    qtbot.waitUntil(lambda: window.session.frame > 3, timeout=10_000)
    qtbot.keyClick(window, Qt.Key_Space)
    assert not window.playback.playing


def test_playback_keeps_time_by_dropping_frames(window, qtbot):
    shown = []
    window.preview.shown.connect(shown.append)
    started = time.perf_counter()
    window.playback.play()
    qtbot.wait(1500)
    frame = window.session.frame
    window.playback.stop()
    elapsed = time.perf_counter() - started
    expected = elapsed * float(window.session.project.settings.rate)
    assert frame == pytest.approx(expected, abs=6), "the playhead follows the clock"
    assert shown, "frames were shown while playing"
    assert all(r.request.steps <= window.session.project.settings.preview_steps for r in shown)


def test_a_frame_from_before_a_change_is_never_labelled_final(window, qtbot):
    wait_for_final(qtbot, window)
    assert "final quality" in window.canvas.caption
    direction = next(iter(window.session.project.directions))
    window.directions.set_value(direction, 20.0, own_gesture=True)
    assert "updating" in window.canvas.caption and "final" not in window.canvas.caption  # the old picture, said so
    wait_for_final(qtbot, window)
    assert "final quality" in window.canvas.caption


def test_an_example_opens_named_after_itself_with_nothing_to_save(window, qtbot, tmp_path, monkeypatch):
    from latent_studio.core.resources import resources_dir

    example = resources_dir() / "examples" / "head_turn.lsproj"
    before = example.read_bytes()
    window.open_example(example)
    assert window.session.title == "head_turn (example)" and not window.session.modified
    assert "head_turn (example)" in window.windowTitle() and "Untitled" not in window.windowTitle()
    offered = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda parent, title, start, *a: offered.append(start) or ("", ""))
    assert not window.save()  # an example is saved under a name of the user's choosing
    assert offered[0].endswith("head_turn.lsproj") and example.read_bytes() == before


def test_save_and_reopen(window, qtbot, tmp_path, monkeypatch, preferences):
    direction = next(iter(window.session.project.directions))
    window.directions.set_value(direction, 12.5, own_gesture=True)
    target = tmp_path / "saved.lsproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.save()
    assert not window.session.modified and "saved.lsproj" in window.windowTitle()
    saved_bytes = target.read_bytes()
    assert project_bytes(load_project(target)) == saved_bytes
    window.directions.set_value(direction, 3.0, own_gesture=True)
    assert window.open_project(target)  # ask_save answers "discard"
    assert window.session.project.strengths[direction].base == 12.5 and not window.session.modified
    assert preferences.recent_files[0] == target.resolve()


def test_save_asks_before_replacing_a_file_changed_on_disk(window, qtbot, tmp_path, monkeypatch):
    from latent_studio.core.project_file import save_project

    target = tmp_path / "shared.lsproj"
    window.session.save(target)
    direction = next(iter(window.session.project.directions))
    other = load_project(target)
    other.strengths.clear()
    save_project(other, target)  # another window saves its version
    theirs = target.read_bytes()
    window.directions.set_value(direction, 7.0, own_gesture=True)
    questions = []
    window.confirm_replace = lambda title, text: questions.append(text) or False  # no: save under another name
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))  # ... then cancel that dialog
    assert not window.save()
    assert "changed on disk" in questions[0] and target.read_bytes() == theirs and window.session.modified
    window.confirm_replace = lambda title, text: True  # yes: replace it
    assert window.save()
    assert load_project(target).strengths[direction].base == 7.0 and not window.session.modified


def test_save_as_asks_when_the_added_suffix_names_an_existing_project(window, qtbot, tmp_path, monkeypatch):
    existing = tmp_path / "scene.lsproj"
    existing.write_bytes(b"someone else's project")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "scene"), ""))
    window.confirm_replace = lambda title, text: False
    assert not window.save_as()
    assert existing.read_bytes() == b"someone else's project"


def test_a_project_made_with_another_model_opens_and_says_so(window, qtbot, tmp_path):
    """A project from an older toy-heads (another content hash) still opens, with one sentence about it."""
    import dataclasses

    from latent_studio.core.project_file import save_project

    wait_for_final(qtbot, window)
    old = dataclasses.replace(window.session.project, model=dataclasses.replace(window.session.project.model,
                                                                                 content_hash="0" * 64))
    path = tmp_path / "old.lsproj"
    save_project(old, path)
    assert window.open_project(path, ask_first=False)
    assert window.session.project.model.content_hash == "0" * 64
    assert window.banner.isVisible() and "old.lsproj was made with model toy-heads" in window.banner.text()


def test_an_older_copy_of_a_model_direction_is_offered_on_open_and_from_the_model_menu(window, qtbot, tmp_path):
    """A project saved before the hair hue held glasses gets the model's current hue when the person says yes."""
    import dataclasses

    from latent_studio.core.project_file import save_project

    wait_for_final(qtbot, window)
    project = window.session.project
    hue = next(d for d in project.directions.values() if d.name == "Hair hue")
    assert hue.hold is not None
    project.directions[hue.id] = dataclasses.replace(hue, hold=None)  # as fitted before holds existed
    path = tmp_path / "older.lsproj"
    save_project(project, path)
    questions = []
    window.ask = lambda title, text: questions.append(text) or True
    assert window.open_project(path, ask_first=False)
    assert len(questions) == 1 and "older copies of the model's directions (Hair hue)" in questions[0]
    assert window.session.project.directions[hue.id].hold is not None and window.session.modified
    assert "Updated Hair hue" in window.statusBar().currentMessage()
    update = next(a for menu in window.menuBar().actions() for a in menu.menu().actions()
                  if a.text() == "&Update directions from the model")
    update.trigger()
    assert window.statusBar().currentMessage() == "The project's directions are the ones the model ships."
    assert window.undo_action.text() == "&Undo Update Hair hue"
    window.undo_action.trigger()
    assert window.session.project.directions[hue.id].hold is None


def test_autosave_and_recovery_after_a_crash(qtbot, preferences, tmp_path, event_loop_qasync, no_thread_left):
    data = tmp_path / "data"
    first = open_window(qtbot, preferences, data)
    target = tmp_path / "work.lsproj"
    first.session.save(target)
    direction = next(iter(first.session.project.directions))
    first.directions.set_value(direction, 20.0, own_gesture=True)
    first.workspace.autosave()
    first.inference.shutdown()  # a crash: the window never closes properly, the recovery file stays
    first.hide()
    destroy(first)
    second = open_window(qtbot, preferences, tmp_path / "data2", project_path=target)  # ask() answers yes
    assert second.session.project.strengths[direction].base == 20.0 and second.session.modified
    close_window(qtbot, second)


def export_through_dialog(window, qtbot, format_key, destination, first=0, last=5, steps=4):
    dialog = window.export()
    dialog.format.setCurrentIndex(dialog.format.findData(format_key))
    dialog.first.setValue(first)
    dialog.last.setValue(last)
    dialog.steps.setValue(steps)
    dialog.destination.setText(str(destination))
    results = []
    dialog.finished_export.connect(results.append)
    qtbot.mouseClick(dialog.export_button, Qt.LeftButton)
    return dialog, results


def test_export_a_png_sequence_and_an_mp4_through_the_dialog(window, qtbot, tmp_path):
    import av

    dialog, results = export_through_dialog(window, qtbot, "png", tmp_path / "frames", last=5)
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    frames = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(frames) == 6 and (tmp_path / "frames" / "frames.json").is_file()
    assert dialog.open_folder.isEnabled() and "Done" in dialog.status.text()
    dialog.destination.setText(str(tmp_path / "again"))  # a second export in the same dialog starts from nothing
    assert dialog.start() is not None
    assert dialog.progress.value() == 0 and not dialog.open_folder.isEnabled()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=120_000)
    dialog.close()
    dialog, results = export_through_dialog(window, qtbot, "mp4", tmp_path / "clip.mp4", last=11)
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    sidecar = json.loads((tmp_path / "clip.mp4.json").read_text())
    assert len(sidecar["frames"]) == 12 and sidecar["steps"] == 4


def test_a_bad_destination_is_refused_before_rendering(window, qtbot, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "other.txt").write_text("keep me")
    dialog, results = export_through_dialog(window, qtbot, "png", tmp_path / "full")
    assert dialog.job is None and not results
    assert "full" in dialog.status.text() and (tmp_path / "full" / "other.txt").read_text() == "keep me"


def test_export_asks_before_replacing_an_existing_file(window, qtbot, tmp_path, monkeypatch):
    import av

    from latent_studio.ui.export_dialog import ExportDialog

    target = tmp_path / "clip.mp4"
    target.write_bytes(b"an edit the artist cares about")
    asked = []
    monkeypatch.setattr(ExportDialog, "ask_replace", lambda self, path: asked.append(path) or False)
    dialog, results = export_through_dialog(window, qtbot, "mp4", target, last=3)
    assert asked == [target] and dialog.job is None and not results
    assert target.read_bytes() == b"an edit the artist cares about" and "kept" in dialog.status.text()
    dialog.close()
    monkeypatch.setattr(ExportDialog, "ask_replace", lambda self, path: asked.append(path) or True)
    dialog, results = export_through_dialog(window, qtbot, "mp4", target, last=3)
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    with av.open(str(target)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_cancel_a_running_render(window, qtbot, tmp_path):
    target = tmp_path / "long.mp4"
    dialog, results = export_through_dialog(window, qtbot, "mp4", target, last=window.session.frame_count - 1, steps=60)
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=60_000)
    qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    assert isinstance(results[0], Cancelled)
    assert not target.exists() and not list(tmp_path.glob("*.mp4*")), "a cancelled render leaves nothing behind"
    assert window.inference.busy_jobs == [] and dialog.export_button.isEnabled()


def test_close_during_a_job_asks_cancels_and_leaves_no_thread(window, qtbot, tmp_path):
    target = tmp_path / "long.mp4"
    dialog, results = export_through_dialog(window, qtbot, "mp4", target, last=window.session.frame_count - 1, steps=60)
    qtbot.waitUntil(lambda: bool(window.inference.busy_jobs), timeout=10_000)
    questions = []
    window.ask = lambda title, text: questions.append(text) or False  # "no": keep working
    window.close()
    assert window.isVisible() and window.inference.busy_jobs and "still running" in questions[0]
    close_window(qtbot, window)  # "yes" this time
    assert not target.exists() and not list(tmp_path.glob("*.mp4*"))


def test_new_direction_from_two_groups_and_arithmetic(window, qtbot):
    from latent_studio.app.projects import direction_from_groups

    for _ in range(2):
        window.spawn(window.flows.random_face(), "test")
    qtbot.waitUntil(lambda: len(window.session.project.assets) == 3, timeout=30_000)
    a, b, c = list(window.session.project.assets)
    entry = direction_from_groups(window.session.project, "Mine", [a], [b, c])
    task = window.spawn(window.flows.add_direction(entry, [a], [b, c]), "test")  # tried on the faces, then added
    qtbot.waitUntil(task.done, timeout=60_000)
    assert task.result() == entry.id and entry.id in window.directions.rows
    assert entry.id in [t for t, _ in window.timeline.tracks()]
    added = window.session.project.direction(entry.id)
    assert "kept_beside_source" in added.info and "decodes" in window.statusBar().currentMessage()
    task = window.spawn(window.flows.arithmetic_face(a, b, c), "test")
    qtbot.waitUntil(task.done, timeout=30_000)
    made = window.session.project.assets[task.result()]
    assert made.kind == "latent" and made.thumbnail
    window.assets.select(c)
    window.session.set_frame(24)
    window.flows.place_at_playhead()
    assert [k.value for k in window.session.project.anchors][-1] == c
    assert window.session.project.anchors[-1].time == window.session.time
    assert ANCHOR_TRACK in [t for t, _ in window.timeline.tracks()]


def test_a_model_with_a_draft_decoder_drafts_in_one_pass(window, qtbot):
    from latent_studio.engine.draft_decoder import DRAFT_PASS

    assert window.inference.model.draft is not None  # the bundled model ships one
    window.preview.seconds_per_step = 1.0  # however slow the machine: one pass is one UNet evaluation
    assert window.preview.draft_steps() == DRAFT_PASS
    shown = []
    window.preview.shown.connect(lambda result: shown.append((result, window.canvas.caption)))
    window.session.set_frame(window.session.frame + 3)
    qtbot.waitUntil(lambda: any(r.steps == DRAFT_PASS for r, _ in shown), timeout=20000)
    draft, caption = next((r, c) for r, c in shown if r.steps == DRAFT_PASS)
    assert draft.image.shape == (64, 64, 3) and draft.image.std() > 10  # a picture, not a flat fill
    assert "draft" in caption and "one pass of the draft decoder" in caption and "final" not in caption
    qtbot.waitUntil(lambda: "final quality" in window.canvas.caption, timeout=60000)  # then the refinement


def test_a_photo_outside_the_models_domain_is_drafted_with_ddim_steps_not_the_draft_decoder(window):
    from dataclasses import replace as replaced

    from latent_studio.engine.draft_decoder import DRAFT_PASS

    project = window.session.project
    spec = window.session.spec()
    assert window.preview.draft_steps(spec) == DRAFT_PASS
    face = project.assets[spec.anchor.a]
    project.assets[face.id] = replaced(face, metadata={**face.metadata, "out_of_domain": "This image is outside…"})
    assert window.preview.draft_steps(spec) != DRAFT_PASS and window.preview.draft_steps() == DRAFT_PASS


def test_a_draft_never_drops_below_the_steps_that_show_a_face(window, monkeypatch):
    from latent_studio.ui.preview import MIN_DRAFT_STEPS

    monkeypatch.setattr(window.inference.model, "draft", None)  # a model without a draft decoder
    full = window.session.project.settings.preview_steps
    assert full > MIN_DRAFT_STEPS
    window.preview.seconds_per_step = 1.0  # a machine far too slow for the interactive budget
    assert window.preview.draft_steps() == MIN_DRAFT_STEPS >= 4
    window.preview.seconds_per_step = 0.001  # a fast one: as many steps as the budget allows, up to the preview's
    assert window.preview.draft_steps() == full


def test_the_export_dialog_numbers_png_files_and_remembers_the_projects_choices(window, qtbot, tmp_path):
    (tmp_path / "shots").mkdir()
    dialog = window.export()
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert dialog.first_number.isEnabled()
    dialog.scale.setCurrentIndex(dialog.scale.findData("custom"))
    assert dialog.custom_width.isVisible() and dialog.fit.isEnabled()
    dialog.custom_width.setValue(96)
    dialog.custom_height.setValue(48)
    dialog.fit.setCurrentIndex(dialog.fit.findData("fill"))
    dialog.first_number.setValue(1001)
    dialog.last.setValue(2)
    dialog.steps.setValue(3)
    dialog.destination.setText(str(tmp_path / "shots" / "frames"))
    results = []
    dialog.finished_export.connect(results.append)
    qtbot.mouseClick(dialog.export_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    names = sorted(p.name for p in (tmp_path / "shots" / "frames").glob("frame_*.png"))
    assert len(names) == 3 and "1001" in names[0] and "1003" in names[-1]
    with Image.open(tmp_path / "shots" / "frames" / names[0]) as first:
        assert first.size == (96, 48)
    dialog.close()

    again = window.export()  # opened again: this project's last choices, in the folder it went to
    assert again.format_key == "png" and again.scale.currentData() == "custom" and again.fit.currentData() == "fill"
    assert again.options().size == (96, 48)
    assert again.first_number.value() == 1001 and again.steps.value() == 3
    assert Path(again.destination.text()).parent == tmp_path / "shots"
    again.format.setCurrentIndex(again.format.findData("mp4"))
    assert not again.first_number.isEnabled() and Path(again.destination.text()).parent == tmp_path / "shots"
    again.close()


def test_the_export_dialog_warns_when_its_steps_are_not_those_a_photo_was_embedded_at(window):
    from latent_studio.core.project import Asset

    project = window.session.project
    face = project.assets[project.anchors[0].value]
    project.assets[face.id] = Asset(face.id, "image", "me", face.latent, "me.png", metadata={"steps": "7"})
    dialog = window.export()
    assert dialog.steps.value() != 7 and not dialog.steps_note.isHidden()
    assert "will not look like themselves: me (7)" in dialog.steps_note.text()
    dialog.steps.setValue(7)
    assert dialog.steps_note.isHidden()
    dialog.close()


def test_a_png_sequences_default_folder_has_no_dot_even_when_the_project_name_has_one(window, tmp_path):
    from latent_studio.media.export import FORMATS, check_export
    from latent_studio.ui.export_dialog import default_destination

    window.session.name_untitled("head_turn (example)")  # an example's copy is named after the example
    assert default_destination(window.session, "mp4", tmp_path) == tmp_path / "head_turn.mp4"
    window.session.path = tmp_path / "shot.v2.lsproj"
    folder = default_destination(window.session, "png")
    assert folder == tmp_path / "shot_v2_frames"
    check_export(folder, FORMATS["png"])  # accepted: the frame list goes inside it
    assert default_destination(window.session, "mp4") == tmp_path / "shot.v2.mp4"


def test_the_export_dialogs_ray_cluster_option(window, qtbot, tmp_path, monkeypatch):
    from latent_studio.app.cluster_render import INSTALL_HINT

    monkeypatch.setattr("latent_studio.ui.export_dialog.ray_available", lambda: False)
    dialog = window.export()
    assert not dialog.cluster.isEnabled() and dialog.cluster.toolTip() == INSTALL_HINT and dialog.frame_source() == {}
    dialog.close()
    monkeypatch.setattr("latent_studio.ui.export_dialog.ray_available", lambda: True)
    dialog = window.export()
    assert dialog.cluster.isEnabled() and dialog.frame_source() == {}  # unticked: rendered here
    dialog.cluster.setChecked(True)
    dialog.cluster_address.setText("ray://head:10001")
    assert dialog.frame_source()["source"].address == "ray://head:10001"
    dialog.cluster_address.setText("slurm")
    dialog.destination.setText(str(tmp_path / "clip.mp4"))
    assert dialog.start() is None and dialog.job is None and "not understood" in dialog.status.text()
    dialog.close()


def test_the_export_dialog_pastes_the_face_back_into_its_photo(window, qtbot, tmp_path):
    import io
    from dataclasses import replace as replaced

    from latent_studio.core.project import Asset
    from latent_studio.media.face_align import FaceLandmarks, align_face

    project = window.session.project
    dialog = window.export()
    assert not dialog.paste_back.isEnabled() and not dialog.paste_back.isChecked()  # no aligned face yet
    dialog.close()
    photo = Image.new("RGB", (300, 240), (40, 90, 160))
    _, alignment = align_face(photo, FaceLandmarks((130, 100), (170, 100), (150, 140)), 64)
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    face = project.assets[project.anchors[0].value]
    project.assets[face.id] = Asset(face.id, "image", "me", face.latent, "me.png", metadata=alignment.as_metadata(),
                                    photo=buffer.getvalue())
    project.settings = replaced(project.settings, paste_back=True)
    dialog = window.export()
    assert dialog.paste_back.isEnabled() and dialog.paste_back.isChecked() and "300×240" in dialog.paste_back.text()
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    dialog.first.setValue(0)
    dialog.last.setValue(0)
    dialog.destination.setText(str(tmp_path / "pasted"))
    results = []
    dialog.finished_export.connect(results.append)
    qtbot.mouseClick(dialog.export_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(results), timeout=120_000)
    with Image.open(next((tmp_path / "pasted").glob("frame_*.png"))) as frame:
        assert frame.size == (300, 240)  # the photo's size
        assert frame.getpixel((5, 5)) == (40, 90, 160) and frame.getpixel((150, 120)) != (40, 90, 160)
    dialog.close()


def test_project_settings_change_as_one_undo_step_and_refuse_an_odd_size(window, qtbot):
    before = window.session.project.settings
    dialog = window.project_settings()
    dialog.fps.setCurrentText("30")
    dialog.duration.setValue(2.0)
    dialog.final_steps.setValue(20)
    dialog.width_box.setValue(301)  # video encoders need even sizes
    dialog.accept()
    assert dialog.isVisible() and "even" in dialog.problem.text() and window.session.project.settings == before
    dialog.width_box.setValue(320)
    assert dialog.frames.text() == "60 frames"
    dialog.accept()
    after = window.session.project.settings
    assert (after.fps, after.duration, after.width, after.final_steps) == ("30", 2.0, 320, 20)
    assert window.session.frame_count == 60
    window.undo()
    assert window.session.project.settings == before


def test_a_prompt_is_one_undo_step_and_a_model_that_reads_none_says_so_on_the_canvas(window, qtbot):
    before = window.session.project.settings
    dialog = window.project_settings()
    dialog.prompt.setText("  a smiling portrait ")
    dialog.guidance.setValue(3.0)
    dialog.accept()
    after = window.session.project.settings
    assert (after.prompt, after.negative_prompt, after.guidance) == ("a smiling portrait", "", 3.0)
    qtbot.waitUntil(lambda: "does not read prompts" in (window.canvas.placeholder or ""), timeout=20000)
    window.undo()
    assert window.session.project.settings == before


def test_the_window_fits_a_1024_pixel_screen_and_clips_no_dock_button_at_1280x720(window, qtbot):
    from PySide6.QtWidgets import QAbstractButton

    assert window.minimumSizeHint().width() <= 1024
    window.resize(1280, 720)
    qtbot.wait(100)
    clipped = [(button.text() or button.toolTip(), button.width(), button.sizeHint().width())
               for dock in (window.assets_dock, window.directions_dock, window.timeline_dock)
               for button in dock.findChildren(QAbstractButton)
               if button.isVisible() and button.width() < button.minimumSizeHint().width()]
    assert clipped == []


def test_the_choose_model_dialog_shows_its_hints_in_full(window, qtbot):
    from latent_studio.ui.dialogs import ModelPicker

    picker = ModelPicker("toy-heads", window)
    picker.show()
    qtbot.wait(50)
    for field in (picker.folder, picker.hub):
        assert field.width() >= field.fontMetrics().horizontalAdvance(field.placeholderText())
    picker.close()


def test_the_choose_model_dialog_opens_on_the_kind_of_model_in_use(window, tmp_path):
    from latent_studio.ui.dialogs import ModelPicker

    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"")
    for current, choice, field in (("toy-heads", "bundled_choice", None),
                                   ("someone/faces", "hub_choice", "hub"),
                                   ("someone/checkpoints/v1.safetensors", "hub_choice", "hub"),
                                   (str(checkpoint), "folder_choice", "folder")):
        picker = ModelPicker(current, window)
        assert getattr(picker, choice).isChecked(), current
        assert picker.spec == current
        if field:
            assert getattr(picker, field).text() == current
        picker.close()


def test_a_slider_edit_leaves_the_asset_thumbnails_alone_and_a_rename_shows(window):
    from latent_studio.core.edits import RenameAsset, SetBaseStrength

    item = window.assets.list.item(0)
    direction = next(iter(window.session.project.directions))
    window.session.apply(SetBaseStrength(direction, 10.0))
    assert window.assets.list.item(0) is item  # not cleared and rebuilt
    asset_id = item.data(Qt.UserRole)
    window.session.apply(RenameAsset(asset_id, "Ada"))
    assert window.assets.list.item(0).text().startswith("Ada")


def test_a_slider_drag_decodes_no_thumbnail_and_an_edit_decodes_only_its_own(window, monkeypatch):
    from latent_studio.core.edits import RenameAsset, SetStrengthAt
    from latent_studio.ui import assets as assets_module

    decoded = []
    real = assets_module.png_to_qimage
    monkeypatch.setattr(assets_module, "png_to_qimage", lambda data: decoded.append(1) or real(data))
    direction = next(iter(window.session.project.directions))
    for value in (0.2, 0.4, 0.6, 0.8):
        window.session.apply(SetStrengthAt(direction, window.session.time, value, gesture="drag"))
    window.session.end_gesture()
    assert decoded == []
    asset_id = window.assets.list.item(0).data(Qt.UserRole)
    window.session.apply(RenameAsset(asset_id, "Grace"))
    assert len(decoded) == 1 and window.assets.list.item(0).text().startswith("Grace")
    window.session.undo()
    assert len(decoded) == 2 and not window.assets.list.item(0).text().startswith("Grace")


def test_the_timeline_zooms_around_the_pointer_pans_and_clicks_land_on_zoomed_frames(window, qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    timeline = window.timeline
    duration = window.session.project.settings.duration
    x = timeline.x_of(1.0)
    wheel = QWheelEvent(QPointF(x, 5), timeline.mapToGlobal(QPointF(x, 5)), QPoint(), QPoint(0, 240),
                        Qt.NoButton, Qt.ControlModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(timeline, wheel)  # two notches in
    start, end = timeline.visible()
    assert end - start == pytest.approx(duration / 1.25**2) and timeline.x_of(1.0) == pytest.approx(x)
    frame = window.session.project.settings.frame_count // 4
    target = window.session.project.settings.frame_time(frame)
    if not start <= target <= end:
        target = window.session.project.settings.frame_time(round((start + end) / 2 * float(window.session.project.settings.rate)))
    qtbot.mouseClick(timeline, Qt.LeftButton, pos=QPoint(round(timeline.x_of(target)), RULER_HEIGHT // 2))
    assert window.session.time == pytest.approx(target)
    timeline.pan(-10)
    assert timeline.visible()[0] == 0.0
    timeline.pan(10)
    assert timeline.visible()[1] == pytest.approx(duration)
    for _ in range(40):
        timeline.zoom(1.25)
    assert timeline.visible()[1] - timeline.visible()[0] == pytest.approx(4 / float(window.session.project.settings.rate))
    timeline.grab()  # paints zoomed without error
    timeline.show_whole_length()
    assert timeline.visible() == (0.0, duration)


def test_a_failed_model_load_keeps_the_loaded_model_and_offers_a_retry_in_the_jobs_panel(window, qtbot, tmp_path):
    from latent_studio.app.jobs import FAILED

    loaded = window.inference.model
    window.spawn(window.models.switch(str(tmp_path / "no-such-model") + "/"), "test")
    log = window.job_status.log
    qtbot.waitUntil(lambda: any(r.state == FAILED for r in log.records.values())
                    and "loading" not in window.job_status.model_label.text(), timeout=30_000)
    failed = next(r for r in log.records.values() if r.state == FAILED)
    assert "does not exist" in failed.message and failed.retry is not None
    assert window.inference.model is loaded and loaded.source.spec in window.job_status.model_label.text()
    panel = window.jobs_dock.widget()
    item = next(panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())
                if panel.tree.topLevelItem(i).text(0) == failed.name)
    retry = panel.tree.itemWidget(item, 4)  # the action column
    assert retry.text() == "Retry"
    before = len(log.records)
    retry.click()
    qtbot.waitUntil(lambda: len(log.records) == before + 1 and
                    all(r.state == FAILED for r in log.records.values() if r.name == failed.name), timeout=30_000)


def test_reset_layout_docks_every_panel_where_it_starts(window, qtbot):
    window.directions_dock.hide()
    window.assets_dock.setFloating(True)
    window.addDockWidget(Qt.TopDockWidgetArea, window.timeline_dock)
    window.reset_layout()
    qtbot.wait(50)
    expected = {window.assets_dock: Qt.LeftDockWidgetArea, window.directions_dock: Qt.RightDockWidgetArea,
                window.timeline_dock: Qt.BottomDockWidgetArea, window.jobs_dock: Qt.BottomDockWidgetArea}
    for dock, area in expected.items():
        assert window.dockWidgetArea(dock) == area and not dock.isFloating() and not dock.isHidden(), dock.windowTitle()
    assert window.jobs_dock in window.tabifiedDockWidgets(window.timeline_dock)


def test_results_of_jobs_started_in_one_project_never_land_in_the_next_one_opened(window, qtbot, tmp_path, monkeypatch):
    """An embedding, a random face and a latent map that finish after another project was opened are set aside."""
    import threading

    from latent_studio.core.resources import resources_dir
    from latent_studio.ui import asset_flows, map_panel

    release = threading.Event()

    def held(function):
        def wait_then(*args, **kwargs):
            assert release.wait(60)
            return function(*args, **kwargs)
        return wait_then

    monkeypatch.setattr(asset_flows, "image_asset", held(asset_flows.image_asset))
    monkeypatch.setattr(asset_flows, "seed_asset", held(asset_flows.seed_asset))
    monkeypatch.setattr(map_panel, "build_map", held(map_panel.build_map))
    wait_for_final(qtbot, window)
    tasks = [window.spawn(window.flows.embed_files([head_image(tmp_path / "me.png")]), "Embed"),
             window.spawn(window.flows.random_face(), "Random face"),
             window.spawn(window.map_panel.compute(), "Latent map")]
    qtbot.waitUntil(lambda: not window.map_panel.compute_button.isEnabled(), timeout=10_000)  # all three have started
    assert window.open_example(resources_dir() / "examples" / "morph.lsproj")
    opened = window.session.project
    names = sorted(a.name for a in opened.assets.values())
    release.set()
    qtbot.waitUntil(lambda: all(task.done() for task in tasks), timeout=120_000)
    assert window.session.project is opened and sorted(a.name for a in opened.assets.values()) == names
    assert not window.session.modified and opened.latent_map is None
    assert "finished after another project was opened" in window.map_panel.hint.text() and tasks[2].result() is None
    assert not window.banner.isVisible()


def test_the_open_export_dialog_follows_a_change_of_the_timelines_length(window):
    from latent_studio.core.edits import ChangeSettings

    fps = float(window.session.project.settings.fps)
    dialog = window.export()
    window.session.apply(ChangeSettings({"duration": 8.0}, "Length"))
    assert dialog.last.maximum() == dialog.last.value() == round(8.0 * fps) - 1 and dialog.first.value() == 0
    window.session.apply(ChangeSettings({"duration": 0.25}, "Length"))
    assert dialog.last.value() == round(0.25 * fps) - 1 and dialog.options().last_frame == dialog.last.value()
    window.session.apply(ChangeSettings({"duration": 4.0}, "Length"))
    dialog.first.setValue(2)
    dialog.last.setValue(10)  # a range chosen in the dialog stays when the timeline grows
    window.session.apply(ChangeSettings({"duration": 6.0}, "Length"))
    assert (dialog.first.value(), dialog.last.value()) == (2, 10)
    dialog.close()


def test_a_strength_typed_past_the_sliders_range_is_marked(window, qtbot):
    direction = next(iter(window.session.project.directions))
    row = window.directions.rows[direction]
    low, high = window.session.project.directions[direction].strength_range
    row.spin.setValue(high * 10)  # allowed, for exaggeration, but never silently
    assert window.session.project.strengths[direction].base == pytest.approx(high * 10)
    assert "past this slider's range" in row.spin.toolTip() and row.spin.styleSheet()
    qtbot.waitUntil(lambda: "final quality" in window.canvas.caption, timeout=60_000)
    name = window.session.project.directions[direction].name
    assert f"past the slider's range: {name}" in window.canvas.caption  # even a final frame says so
    row.spin.setValue(high / 2)
    assert row.spin.toolTip() == "" and row.spin.styleSheet() == ""
    qtbot.waitUntil(lambda: "final quality" in window.canvas.caption, timeout=60_000)
    assert "past the slider's range" not in window.canvas.caption


def test_an_image_outside_the_models_domain_is_a_warning_that_keeps_the_embeddings_status(window, qtbot, tmp_path):
    stripes = np.indices((64, 64)).sum(0) % 8 < 4
    path = tmp_path / "checker.png"
    Image.fromarray(np.stack([stripes * 230, stripes * 40 + 100, 255 - stripes * 200], -1).astype(np.uint8)).save(path)
    task = window.spawn(window.flows.embed_files([path]), "Embed")
    qtbot.waitUntil(task.done, timeout=120_000)
    assert "outside what the model 'toy-heads' knows" in window.banner.text()
    assert window.statusBar().currentMessage().startswith("Embedded checker.png: reconstruction PSNR")


def test_a_project_dropped_on_the_canvas_opens(window, qtbot, tmp_path):
    import shutil

    from latent_studio.core.resources import resources_dir

    path = tmp_path / "morph.lsproj"
    shutil.copy(resources_dir() / "examples" / "morph.lsproj", path)
    window.canvas.files_dropped.emit([path])
    assert window.session.path == path and sorted(a.name for a in window.session.project.assets.values()) == \
        sorted(a.name for a in load_project(path).assets.values())
    assert not window.banner.isVisible()
