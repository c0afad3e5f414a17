"""The session: every edit through undo, events for views, atomic saves, autosave and recovery."""

from __future__ import annotations

import numpy as np
import pytest

from latent_studio.app.session import DOCUMENT, FILE, PLAYHEAD, ProjectChangedOnDisk, Session
from latent_studio.core.directions import Direction
from latent_studio.core.edits import AddKeyframe, SetStrengthAt
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import ANCHOR_TRACK, Asset, ModelRef, Project, Settings
from latent_studio.core.project_file import load_project, pending_recovery, project_bytes, save_project


def make_project() -> Project:
    project = Project(ModelRef("toy", "abc"), Settings(fps="24", duration=2.0))
    latent = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    project.assets["a"] = Asset("a", "seed", "Seed 1", latent, seed=1)
    project.directions["d"] = Direction("Smile", np.ones((3, 8, 8), np.float32), "test", (-1.0, 1.0), "abc", id="d")
    project.anchors = (Keyframe(0.0, "a", Interpolation.LINEAR),)
    return project


@pytest.fixture
def session(tmp_path):
    s = Session(make_project(), untitled_recovery=tmp_path / "recovery" / "untitled.lsproj")
    s.events = []
    s.subscribe(s.events.append)
    return s


def test_a_slider_drag_is_one_undo_step_and_views_hear_every_change(session):
    for value in (0.1, 0.2, 0.3):
        session.apply(SetStrengthAt("d", session.time, value, gesture="drag-1"))
    session.end_gesture()
    assert session.project.strengths["d"].base == 0.3
    assert session.events.count(DOCUMENT) == 3 and session.events.count(FILE) == 1  # clean -> modified once
    assert session.undo() == "Set strength"
    assert session.project.strengths["d"].base == 0.0 and not session.modified
    assert session.redo() == "Set strength" and session.project.strengths["d"].base == 0.3


def test_strength_on_an_animated_track_adds_or_changes_the_key_at_the_playhead(session):
    session.apply(AddKeyframe("d", Keyframe(0.0, 0.0)))
    session.set_frame(12)
    session.apply(SetStrengthAt("d", session.time, 0.5, gesture="g"))
    session.apply(SetStrengthAt("d", session.time, 0.7, gesture="g"))
    assert [(k.time, k.value) for k in session.project.strengths["d"].keyframes] == [(0.0, 0.0), (0.5, 0.7)]
    session.undo()
    assert [(k.time, k.value) for k in session.project.strengths["d"].keyframes] == [(0.0, 0.0)]


def test_the_playhead_is_clamped_and_reported(session):
    session.set_frame(10_000)
    assert session.frame == session.frame_count - 1 == 47
    assert session.events == [PLAYHEAD]
    assert session.spec().anchor.a == "a"


def test_save_is_atomic_clears_modified_and_recovery(session, tmp_path):
    session.apply(SetStrengthAt("d", 0.0, 0.4))
    path = tmp_path / "work"  # the suffix is added
    written = session.autosave()
    assert written == tmp_path / "recovery" / "untitled.lsproj" and written.is_file()
    saved = session.save(path)
    assert saved == tmp_path / "work.lsproj" and not session.modified
    assert not written.exists(), "saving makes the untitled recovery file unnecessary"
    assert project_bytes(load_project(saved)) == project_bytes(session.project)
    assert session.title == "work.lsproj"


def test_autosave_writes_beside_a_saved_project_and_open_can_recover_it(session, tmp_path):
    path = session.save(tmp_path / "work.lsproj")
    assert session.autosave() is None  # nothing changed since the save
    session.apply(SetStrengthAt("d", 0.0, 0.9))
    recovery = session.autosave()
    assert recovery is not None and pending_recovery(path) == recovery
    assert session.autosave() is None  # nothing new since the last autosave
    recovered = Session.open(path, recovered_from=recovery)
    assert recovered.project.strengths["d"].base == 0.9 and recovered.modified
    assert Session.open(path).project.strengths.get("d") is None
    recovered.save()
    assert pending_recovery(path) is None


def test_a_refused_edit_changes_nothing(session):
    with pytest.raises(ValueError):
        session.apply(AddKeyframe(ANCHOR_TRACK, Keyframe(0.0, "a")))  # a key is already there
    assert session.events == [] and not session.modified and not session.undo_stack.can_undo


def test_save_refuses_a_file_another_program_changed_until_told_to_replace_it(session, tmp_path):
    path = session.save(tmp_path / "work.lsproj")
    opened = Session.open(path)
    assert not session.changed_on_disk() and not opened.changed_on_disk()
    other = load_project(path)
    other.settings = type(other.settings)(fps="30", duration=1.0)
    save_project(other, path)  # another window saves its version
    theirs = path.read_bytes()
    session.apply(SetStrengthAt("d", 0.0, 0.4))
    assert session.changed_on_disk() and opened.changed_on_disk()
    with pytest.raises(ProjectChangedOnDisk, match="changed on disk"):
        session.save()
    assert path.read_bytes() == theirs and session.modified, "nothing replaced, nothing marked saved"
    session.save(tmp_path / "mine.lsproj")  # another name is always fine
    session.path = path
    session.save(replace_changed=True)
    assert not session.changed_on_disk() and load_project(path).strengths["d"].base == 0.4


def test_a_deleted_file_is_not_a_conflict(session, tmp_path):
    path = session.save(tmp_path / "work.lsproj")
    path.unlink()
    assert not session.changed_on_disk()
    session.save()
    assert path.is_file()
