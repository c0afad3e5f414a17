"""Even pace: the measured change of a morph, and a retimed segment that changes more evenly than the plain one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from latent_studio.app.projects import empty_project, place_anchors, seed_asset
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import Interpolation
from latent_studio.core.project import Settings
from latent_studio.core.metrics import reduced_picture
from latent_studio.engine.pace import measure_pace
from latent_studio.engine.render import render_frames

STEPS = 6


@pytest.fixture()
def morph(trained_model):
    project = empty_project(trained_model, Settings(fps="24", duration=1.0, width=32, height=32, preview_steps=STEPS,
                                                    final_steps=STEPS))
    for seed in (3, 11):
        asset = seed_asset(trained_model, seed, steps=STEPS)
        project.assets[asset.id] = asset
    place_anchors(project, list(project.assets))
    linear = tuple(dataclasses.replace(k, interpolation=Interpolation.LINEAR) for k in project.anchors)
    project.anchors = linear
    return project


def unevenness(model, project) -> float:
    """Spread of the change between consecutive frames over the morph (coefficient of variation)."""
    frames = [f.image for f in render_frames(model, project, range(project.settings.frame_count), STEPS)]
    steps = np.array([np.sqrt(np.mean((reduced_picture(b) - reduced_picture(a)) ** 2)) for a, b in zip(frames, frames[1:])])
    return float(steps.std() / steps.mean())


def test_the_pace_table_rises_from_0_to_1_and_retiming_evens_the_change(trained_model, morph):
    calls = []
    pace = measure_pace(trained_model, morph, 0, STEPS, samples=25, progress=lambda done, total: calls.append(done))
    assert calls[-1] == 25 and calls[0] == 9  # nine even weights, then the widest intervals split
    assert len(pace) == 65 and pace[0] == 0.0 and pace[-1] == 1.0
    assert all(b >= a for a, b in zip(pace, pace[1:]))
    before = unevenness(trained_model, morph)
    paced = dataclasses.replace(morph, anchors=(dataclasses.replace(morph.anchors[0], pace=pace), morph.anchors[1]))
    after = unevenness(trained_model, paced)
    print(f"unevenness (std/mean of per-frame change): linear {before:.3f}, even pace {after:.3f}")
    assert after < 0.8 * before
    plain, retimed = (next(render_frames(trained_model, p, [0], STEPS)).image for p in (morph, paced))
    np.testing.assert_array_equal(plain, retimed)  # the keyframe's own frame does not move


def test_a_key_without_a_morph_after_it_says_so(trained_model, morph):
    with pytest.raises(UserError, match="another face follows"):
        measure_pace(trained_model, morph, 1, STEPS)
