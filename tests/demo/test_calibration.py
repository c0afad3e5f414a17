"""Direction calibration: rescale so that one unit of strength reads as one unit of the factor."""

import numpy as np
import pytest

from latent_studio.core.directions import Direction
from latent_studio.demo import direction_fitting
from latent_studio.demo.direction_fitting import MAX_CALIBRATION_SCALE, Plan, calibrate

PLAN = Plan("yaw", (-60.0, 0.0, 60.0), 4, 0.0, (-30.0, 30.0))


def direction() -> Direction:
    vector = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    return Direction("Head turn", vector, "binned-centroid regression", (-60.0, 60.0), "h" * 64, "degrees", {"r2": "0.9"})


def respond(monkeypatch, slope_of_scale):
    """Stand in for decoding and reading: the measured slope as a function of the vector's scale."""
    reference = float(np.linalg.norm(direction().vector))
    monkeypatch.setattr(direction_fitting, "response_slope",
                        lambda model, regressor, vector, plan, heads, steps, cancel=None, source_attention_from=None:
                        slope_of_scale(float(np.linalg.norm(vector)) / reference))


def test_a_weak_linear_direction_is_scaled_up_to_its_units(monkeypatch):
    respond(monkeypatch, lambda scale: 0.3 * scale)
    result = calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10)
    np.testing.assert_allclose(result.vector, direction().vector / 0.3, rtol=1e-5)
    assert result.info["calibration"].startswith("x3.333") and result.info["r2"] == "0.9"
    assert result.strength_range == (-60.0, 60.0) and result.unit == "degrees"


def test_the_second_round_corrects_a_saturating_response(monkeypatch):
    respond(monkeypatch, lambda scale: 0.5 * scale if scale <= 1 else 0.5 + 0.25 * (scale - 1))
    result = calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10)
    first_round_scale = 2.0
    assert float(np.linalg.norm(result.vector) / np.linalg.norm(direction().vector)) == pytest.approx(first_round_scale / 0.75)


@pytest.mark.parametrize("slope", [0.0, -0.2, float("nan")])
def test_a_direction_that_does_not_move_its_factor_keeps_its_fitted_scale(monkeypatch, slope):
    respond(monkeypatch, lambda scale: slope)
    result = calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10)
    np.testing.assert_array_equal(result.vector, direction().vector)
    assert result.info["calibration"].startswith("x1.000")


def test_the_scale_is_capped(monkeypatch):
    respond(monkeypatch, lambda scale: 0.01 * scale)
    result = calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10)
    assert float(np.linalg.norm(result.vector) / np.linalg.norm(direction().vector)) == pytest.approx(MAX_CALIBRATION_SCALE)


def test_calibration_measures_the_decode_the_app_uses(monkeypatch):
    """A direction decoded beside its source is calibrated that way too: the slider's units are what the app shows."""
    seen = []
    monkeypatch.setattr(direction_fitting, "read_along",
                        lambda model, regressor, heads, vector, strengths, steps, source_attention_from=None, cancel=None:
                        seen.append(source_attention_from) or np.zeros((2, len(heads), 10)))
    calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10, source_attention_from=0.0)
    calibrate(None, None, direction(), PLAN, np.zeros((2, 3, 8, 8)), 10)
    assert seen == [0.0, None]


def test_a_bend_is_scaled_by_its_gain_of_the_lines_calibration(monkeypatch):
    from dataclasses import replace

    from latent_studio.core.directions import DirectionBend
    from latent_studio.demo.direction_fitting import BEND_GAIN, calibrate_plan

    respond(monkeypatch, lambda scale: 0.25 * scale)  # the line needs x4
    rng = np.random.default_rng(1)
    bend = DirectionBend(rng.standard_normal((3, 8, 8)).astype(np.float32), 0.5, rng.standard_normal((3, 8, 8)).astype(np.float32))
    latents = {"yaw": (np.zeros((12, 3, 8, 8), np.float32), np.tile(np.array(PLAN.levels), 4))}
    result = calibrate_plan(None, None, PLAN, replace(direction(), bend=bend), latents, 10, None, None)
    np.testing.assert_allclose(result.bend.curve, bend.curve * 4.0 * BEND_GAIN, rtol=1e-5)
    np.testing.assert_array_equal(result.bend.reading, bend.reading)  # still reads the factor in its own units
    assert result.bend.offset == 0.5


def test_a_split_keep_is_scaled_by_its_gain_of_the_present_lines_calibration(monkeypatch):
    from dataclasses import replace

    from latent_studio.core.directions import DirectionKeep, DirectionSplit
    from latent_studio.demo.direction_fitting import KEEP_BARE, KEEP_GAIN, calibrate_plan

    respond(monkeypatch, lambda scale: 0.25 * scale)  # each line needs x4
    rng = np.random.default_rng(2)
    keep = DirectionKeep(*(rng.standard_normal((3, 8, 8)).astype(np.float32) for _ in range(3)), 60.0)
    line = direction().vector
    split = DirectionSplit("Glasses", rng.standard_normal((3, 8, 8)).astype(np.float32), 0.0, 1.0, line, line, keep=keep)
    plan = replace(PLAN, split_by="glasses", keep=True)
    latents = {"yaw": (np.zeros((24, 3, 8, 8), np.float32), np.tile(np.array(plan.levels), 8))}
    result = calibrate_plan(None, None, plan, replace(direction(), split=split), latents, 10, None, None).split.keep
    for name in ("base", "slope", "curve"):
        np.testing.assert_allclose(getattr(result, name), getattr(keep, name) * 4.0 * KEEP_GAIN, rtol=1e-5)
    assert result.reach == 60.0 and result.bare == KEEP_BARE


def test_a_plans_calibration_cap_replaces_the_default_cap(monkeypatch):
    from dataclasses import replace

    from latent_studio.demo.direction_fitting import MAX_CALIBRATION_SCALE, calibrate_plan

    respond(monkeypatch, lambda scale: 0.01 * scale)  # the line would need x100
    latents = {"yaw": (np.zeros((12, 3, 8, 8), np.float32), np.tile(np.array(PLAN.levels), 4))}
    for plan, expected in ((PLAN, MAX_CALIBRATION_SCALE), (replace(PLAN, calibration_cap=22.0), 22.0)):
        result = calibrate_plan(None, None, plan, direction(), latents, 10, None, None)
        np.testing.assert_allclose(result.vector, direction().vector * expected, rtol=1e-5)
