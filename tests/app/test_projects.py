"""Headless document rules shared by the app and the CLI."""

import dataclasses

from latent_studio.app.projects import empty_project, model_mismatch


def test_the_model_mismatch_sentence_names_both_models_and_is_silent_when_they_match(trained_model):
    project = empty_project(trained_model)
    assert model_mismatch(project, trained_model) is None
    other = dataclasses.replace(project, model=dataclasses.replace(project.model, spec="old-heads", content_hash="ab" * 32))
    sentence = model_mismatch(other, trained_model, "scene.lsproj")
    assert sentence.startswith("scene.lsproj was made with model old-heads (abababababab)")
    assert trained_model.short_hash in sentence and "\n" not in sentence
