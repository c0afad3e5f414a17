"""The toy-head renderer: deterministic, and every factor visibly does what it says."""

import numpy as np
import pytest

from latent_studio.demo.factors import (
    FACTORS,
    HeadFactors,
    denormalise,
    normalise,
    sample_factors,
)
from latent_studio.demo.heads import render, render_batch

BASE = HeadFactors()


def diff(a, b):
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_deterministic_in_factors_and_seed():
    a = render(BASE, seed=3)
    np.testing.assert_array_equal(a, render(BASE, seed=3))
    assert diff(a, render(BASE, seed=4)) > 0.5  # another person
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8


def test_batch_matches_single_renders():
    factors = sample_factors(np.random.default_rng(0), 3)
    batch = render_batch(factors, [0, 1, 2])
    for i, f in enumerate(factors):
        np.testing.assert_array_equal(batch[i], render(f, seed=i))


def test_any_output_size():
    assert render(BASE, size=32).shape == (32, 32, 3)
    assert render(BASE, size=96, supersample=1).shape == (96, 96, 3)


def _eye_white_column(image):
    """Mean column of the eye whites: the only near-white, near-grey pixels in the picture."""
    rgb = image.astype(int)
    white = (rgb.min(-1) > 200) & (rgb.max(-1) - rgb.min(-1) < 25)
    rows, cols = np.nonzero(white)
    assert len(cols) > 0, "no eye white visible"
    return cols.mean()


def test_face_features_travel_with_yaw():
    columns = [_eye_white_column(render(BASE.replace(yaw=y, light_angle=0.0), size=96)) for y in (-40, 0, 40)]
    assert columns[0] < columns[1] - 4 and columns[1] < columns[2] - 4  # positive yaw turns to the viewer's right
    assert abs(columns[1] - 48) < 3


@pytest.mark.parametrize(
    "name, low, high",
    [
        ("yaw", -50.0, 50.0),
        ("pitch", -20.0, 20.0),
        ("smile", -1.0, 1.0),
        ("eye_open", 0.0, 1.0),
        ("glasses", 0.0, 1.0),
        ("hair_hue", 0.1, 0.6),
        ("hair_length", 0.0, 1.0),
        ("skin_tone", 0.0, 1.0),
        ("background_hue", 0.0, 0.5),
        ("light_angle", -70.0, 70.0),
    ],
)
def test_every_factor_changes_the_picture(name, low, high):
    a = render(BASE.replace(**{name: low})).astype(int)
    b = render(BASE.replace(**{name: high})).astype(int)
    changed = int((np.abs(a - b).sum(-1) > 60).sum())
    assert changed >= 12, f"{name} changes only {changed} pixels clearly"


def test_glasses_darken_the_eye_region_only_when_on():
    off = render(BASE.replace(glasses=0.0), size=96)
    on = render(BASE.replace(glasses=1.0), size=96)
    eyes, mouth = slice(30, 46), slice(62, 72)
    assert on[eyes].mean() < off[eyes].mean() - 2
    np.testing.assert_array_equal(on[mouth], off[mouth])


def test_factor_sampling_and_normalisation():
    factors = sample_factors(np.random.default_rng(1), 500)
    values = np.stack([f.as_array() for f in factors])
    for i, factor in enumerate(FACTORS):
        assert values[:, i].min() >= factor.low and values[:, i].max() <= factor.high
    assert set(np.unique(values[:, [f.name for f in FACTORS].index("glasses")])) == {0.0, 1.0}
    np.testing.assert_allclose(denormalise(normalise(values)), values, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(HeadFactors.from_array(values[0]).as_array(), factors[0].as_array())
