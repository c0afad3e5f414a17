"""The project document: settings, frame evaluation, undo commands."""

import numpy as np
import pytest

from latent_studio.core.edits import (
    AddAsset,
    AddDirection,
    AddKeyframe,
    ChangeKeyframe,
    ChangeSettings,
    RemoveAsset,
    RemoveKeyframe,
    SetBaseStrength,
)
from latent_studio.core.keyframes import Interpolation, Keyframe, KeyframeError
from latent_studio.core.latent_math import slerp
from latent_studio.core.project import (
    ANCHOR_TRACK,
    Asset,
    Direction,
    ModelRef,
    Project,
    ProjectError,
    Settings,
    evaluate,
    frame_latent,
)
from latent_studio.core.seeds import noise_latent
from latent_studio.core.undo import UndoStack

SHAPE = (3, 8, 8)


def make_project() -> Project:
    project = Project(ModelRef("toy", "h" * 64), Settings(duration=4.0))
    for i, name in enumerate("ab"):
        project.assets[name] = Asset(name, "seed", name.upper(), noise_latent(i, SHAPE), seed=i)
    project.directions["turn"] = Direction("Turn", noise_latent(9, SHAPE) * 0.1, "m", (-1, 1), "h" * 64, id="turn")
    return project


def test_settings_frame_count_and_times():
    s = Settings(fps="23.976", duration=10.0)
    assert s.frame_count == 240  # 10 s * 24000/1001 = 239.76
    assert s.frame_time(24) == pytest.approx(24 * 1001 / 24000)
    assert Settings(fps="60", duration=600).frame_count == 36000
    for bad in ({"fps": "29"}, {"duration": 0}, {"width": 255}, {"upscale": "bicubic"}, {"final_steps": 0}):
        with pytest.raises(ProjectError):
            Settings(**bad)


def test_evaluate_gives_hashable_specs_and_slerped_latents():
    project = make_project()
    project.anchors = (Keyframe(0.0, "a", Interpolation.LINEAR), Keyframe(2.0, "b"))
    project.editable_track("turn").keyframes = (Keyframe(0.0, 0.0), Keyframe(4.0, 1.0))
    spec = evaluate(project, 1.0)
    assert spec == evaluate(project, 1.0) and hash(spec) == hash(evaluate(project, 1.0))
    assert (spec.anchor.a, spec.anchor.b, spec.anchor.weight) == ("a", "b", 0.5)
    assert spec.strengths == (("turn", 0.25),)
    assert evaluate(project, 0.0).strengths == ()  # zero strengths are left out: same frame, same key
    plain = frame_latent(project, evaluate(project, 0.0))
    np.testing.assert_array_equal(plain, project.assets["a"].latent)
    latent = frame_latent(project, spec)
    mid = slerp(project.assets["a"].latent, project.assets["b"].latent, 0.5)
    assert np.linalg.norm(latent) == pytest.approx(np.linalg.norm(mid), rel=1e-5)
    with pytest.raises(ProjectError, match="no anchor"):
        evaluate(Project(ModelRef("toy", "h")), 0.0)


def test_undo_redo_of_keyframe_edits_and_gesture_merging():
    project = make_project()
    stack = UndoStack(project)
    stack.push(AddKeyframe(ANCHOR_TRACK, Keyframe(0.0, "a")))
    stack.push(AddKeyframe("turn", Keyframe(1.0, 0.0)))
    stack.push(AddKeyframe("turn", Keyframe(2.0, 0.5)))  # adds never merge, even in a row
    assert len(project.strengths["turn"].keyframes) == 2
    # one drag of the keyframe at 2 s: three moves, one undo step
    stack.push(ChangeKeyframe("turn", 2.0, {"time": 2.5}, gesture="drag1"))
    stack.push(ChangeKeyframe("turn", 2.5, {"time": 3.0, "value": 0.7}, gesture="drag1"))
    stack.push(ChangeKeyframe("turn", 3.0, {"time": 3.5}, gesture="drag1"))
    assert [(k.time, k.value) for k in project.strengths["turn"].keyframes] == [(1.0, 0.0), (3.5, 0.7)]
    assert stack.undo() == "Edit keyframe"
    assert [(k.time, k.value) for k in project.strengths["turn"].keyframes] == [(1.0, 0.0), (2.0, 0.5)]
    stack.redo()
    assert project.strengths["turn"].keyframes[1].time == 3.5
    # a second drag with a new gesture id is its own step
    stack.push(ChangeKeyframe("turn", 3.5, {"interpolation": "ease_in"}, gesture="drag2"))
    stack.undo()
    assert project.strengths["turn"].keyframes[1].interpolation is Interpolation.LINEAR
    stack.undo()
    stack.undo()
    assert len(project.strengths["turn"].keyframes) == 1
    stack.redo()
    assert len(project.strengths["turn"].keyframes) == 2
    assert not stack.can_redo or stack.redo_label == "Edit keyframe"


def test_slider_drag_is_one_step_and_a_new_edit_drops_the_redo_branch():
    project = make_project()
    stack = UndoStack(project)
    for value in (0.1, 0.2, 0.3):
        stack.push(SetBaseStrength("turn", value, gesture="slider"))
    stack.end_gesture()
    stack.push(SetBaseStrength("turn", 0.9, gesture="slider"))
    assert project.strengths["turn"].base == 0.9
    stack.undo()
    assert project.strengths["turn"].base == 0.3
    stack.undo()
    assert project.strengths["turn"].base == 0.0
    stack.redo()
    stack.push(ChangeSettings({"fps": "30"}))
    assert not stack.can_redo and project.strengths["turn"].base == 0.3


def test_removing_an_asset_removes_its_anchors_and_undo_restores_both():
    project = make_project()
    stack = UndoStack(project)
    stack.push(AddKeyframe(ANCHOR_TRACK, Keyframe(0.0, "a")))
    stack.push(AddKeyframe(ANCHOR_TRACK, Keyframe(1.0, "b")))
    stack.push(RemoveAsset("b"))
    assert "b" not in project.assets and [k.value for k in project.anchors] == ["a"]
    stack.undo()
    assert "b" in project.assets and [k.value for k in project.anchors] == ["a", "b"]


def test_bad_edits_raise_and_change_nothing():
    project = make_project()
    stack = UndoStack(project)
    stack.push(AddKeyframe("turn", Keyframe(1.0, 0.0)))
    for bad in (
        AddKeyframe("turn", Keyframe(1.0, 0.5)),  # same time
        AddKeyframe("turn", Keyframe(9.0, 0.5)),  # past the end
        AddKeyframe(ANCHOR_TRACK, Keyframe(0.0, "missing")),
        RemoveKeyframe("turn", 2.0),
        AddAsset(project.assets["a"]),
        AddDirection(project.directions["turn"]),
    ):
        with pytest.raises((KeyframeError, ProjectError)):
            stack.push(bad)
    assert [k.time for k in project.strengths["turn"].keyframes] == [1.0] and not project.anchors
    assert stack.undo() == "Add keyframe" and not stack.can_undo


def test_clean_state_follows_undo_and_save():
    stack = UndoStack(make_project())
    assert stack.is_clean
    stack.push(SetBaseStrength("turn", 0.5, gesture="g"))
    assert not stack.is_clean
    stack.mark_clean()
    stack.push(SetBaseStrength("turn", 0.7, gesture="g"))  # does not merge into the saved step
    assert not stack.is_clean
    stack.undo()
    assert stack.is_clean and stack.document.strengths["turn"].base == 0.5


def test_reading_never_changes_the_document():
    """Tracks are read (timeline paint, sliders, evaluation) without creating anything: the bytes stay the same."""
    from latent_studio.core.edits import track_keyframes
    from latent_studio.core.project_file import project_bytes

    project = make_project()
    project.anchors = (Keyframe(0.0, "a"),)
    before = project_bytes(project)
    assert project.track("turn").keyframes == () and track_keyframes(project, "turn") == ()
    assert project.strength_at("turn", 1.0) == 0.0 and evaluate(project, 1.0).strengths == ()
    assert project.strengths == {} and project_bytes(project) == before
    with pytest.raises(ProjectError):
        project.track("missing")


def test_an_edit_undone_leaves_the_same_bytes():
    from latent_studio.core.project_file import project_bytes

    project = make_project()
    project.anchors = (Keyframe(0.0, "a"),)
    before = project_bytes(project)
    stack = UndoStack(project)
    stack.push(SetBaseStrength("turn", 0.5))
    assert project.strength_at("turn", 0.0) == 0.5 and project_bytes(project) != before
    stack.undo()
    assert project_bytes(project) == before


def test_a_split_direction_turns_each_anchor_along_its_own_line():
    """The frame path edits with the line the split's probe picks for the frame's latent (issue 14)."""
    from dataclasses import replace

    from latent_studio.core.directions import DirectionSplit

    project = make_project()
    a, b = project.assets["a"].latent, project.assets["b"].latent
    without, with_ = noise_latent(20, SHAPE) * 0.1, noise_latent(21, SHAPE) * 0.1
    probe = (b - a).astype(np.float32)  # reads b as having the attribute, a as not
    threshold = float(np.vdot(a + b, probe) / 2)
    split = DirectionSplit("Glasses", probe, threshold, 1e-3, without, with_)
    project.directions["turn"] = replace(project.directions["turn"], split=split)
    project.editable_track("turn").keyframes = (Keyframe(0.0, 1.0),)
    for asset, line in (("a", without), ("b", with_)):
        project.anchors = (Keyframe(0.0, asset),)
        source = project.assets[asset].latent
        expected = source + line
        expected *= np.linalg.norm(source) / np.linalg.norm(expected)
        np.testing.assert_allclose(frame_latent(project, evaluate(project, 0.0)), expected, rtol=1e-5, atol=1e-6)
