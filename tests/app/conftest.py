"""Fixtures the export tests share: an untrained tiny model and a two-face project on it (fast, not pictures)."""

import pytest

from latent_studio.app.projects import empty_project, place_anchors, seed_asset
from latent_studio.core.project import Settings

STEPS = 2


@pytest.fixture(scope="module")
def untrained_model(untrained_model_dir):
    from latent_studio.engine.models import load_model

    return load_model(str(untrained_model_dir), device="cpu")


@pytest.fixture()
def project(untrained_model):
    project = empty_project(untrained_model, Settings(fps="25", duration=0.4, width=16, height=16, final_steps=STEPS))
    for seed in (1, 2):
        asset = seed_asset(untrained_model, seed, steps=STEPS)
        project.assets[asset.id] = asset
    place_anchors(project, list(project.assets))
    return project
