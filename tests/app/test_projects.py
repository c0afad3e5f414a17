"""Headless document rules shared by the app and the CLI."""

import dataclasses

import pytest

from latent_studio.app.projects import empty_project, model_mismatch


def test_the_model_mismatch_sentence_names_both_models_and_is_silent_when_they_match(trained_model):
    project = empty_project(trained_model)
    assert model_mismatch(project, trained_model) is None
    other = dataclasses.replace(project, model=dataclasses.replace(project.model, spec="old-heads", content_hash="ab" * 32))
    sentence = model_mismatch(other, trained_model, "scene.lsproj")
    assert sentence.startswith("scene.lsproj was made with model old-heads (abababababab)")
    assert trained_model.short_hash in sentence and "\n" not in sentence


def test_placing_a_face_adds_a_key_or_replaces_the_one_at_that_time():
    from latent_studio.app.projects import place_face
    from latent_studio.core.edits import AddKeyframe, ChangeKeyframe
    from latent_studio.core.errors import UserError
    from tests.app.test_session import make_project

    project = make_project()  # face "a" keyed at 0 s
    project.assets["b"] = project.assets["a"].__class__("b", "seed", "Seed 2", project.assets["a"].latent, seed=2)
    add = place_face(project, "b", 1.0)
    assert isinstance(add, AddKeyframe)
    add.apply(project)
    assert [(k.time, k.value) for k in project.anchors] == [(0.0, "a"), (1.0, "b")]
    replace = place_face(project, "b", 0.0)
    assert isinstance(replace, ChangeKeyframe)
    replace.apply(project)
    assert [(k.time, k.value) for k in project.anchors] == [(0.0, "b"), (1.0, "b")]
    with pytest.raises(UserError, match="no longer in Assets"):
        place_face(project, "gone", 0.5)
