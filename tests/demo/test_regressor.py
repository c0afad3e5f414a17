"""The factor regressor: targets round-trip, it learns, and its file loads back."""

import numpy as np
import pytest
import torch

from latent_studio.core.errors import UserError
from latent_studio.demo.factors import FACTOR_NAMES, sample_factors
from latent_studio.demo.regressor import (
    FactorRegressor,
    RegressorRecipe,
    _mirror,
    decode_outputs,
    encode_targets,
    load_regressor,
    predict,
    save_regressor,
    train_regressor,
)


def test_targets_round_trip_including_circular_hues():
    factors = np.stack([f.as_array() for f in sample_factors(np.random.default_rng(0), 50)])
    np.testing.assert_allclose(decode_outputs(encode_targets(factors)), factors, atol=1e-4)


def test_mirroring_flips_yaw_and_light_only():
    factors = np.stack([f.as_array() for f in sample_factors(np.random.default_rng(1), 5)])
    mirrored = _mirror(factors)
    for i, name in enumerate(FACTOR_NAMES):
        expected = -factors[:, i] if name in ("yaw", "light_angle") else factors[:, i]
        np.testing.assert_array_equal(mirrored[:, i], expected)


def test_a_short_training_run_beats_predicting_the_mean():
    recipe = RegressorRecipe(resolution=32, width=8, pool_batches=4, batch=32, steps=120, learning_rate=3e-3)
    losses = []
    model, _ = train_regressor(recipe, progress=lambda s, t, loss: losses.append(loss))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])


def test_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = FactorRegressor(width=8)
    save_regressor(tmp_path / "r.safetensors", model, {"note": "test"})
    loaded = load_regressor(tmp_path / "r.safetensors")
    images = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(predict(loaded, images), predict(model, images), atol=1e-5)
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(UserError, match="cannot be read"):
        load_regressor(tmp_path / "bad.safetensors")
