"""The factor regressor shipped in resources/ reads fresh held-out heads correctly."""

import numpy as np

from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import load_regressor, predict


def test_bundled_regressor_reads_unseen_heads():
    model = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    batch = rendered_batch(seed=12345, stream=HELD_OUT_STREAM, index=0, size=64, count=64)  # a seed training never used
    predicted = predict(model, batch.images)
    error = np.abs(predicted - batch.factors)
    yaw, glasses, hue = (FACTOR_NAMES.index(n) for n in ("yaw", "glasses", "hair_hue"))
    assert error[:, yaw].mean() < 4.0  # degrees, over a 120-degree range
    assert ((predicted[:, glasses] > 0.5) == (batch.factors[:, glasses] > 0.5)).mean() >= 0.95
    hue_error = (predicted[:, hue] - batch.factors[:, hue] + 0.5) % 1.0 - 0.5
    assert np.abs(hue_error).mean() < 0.03
