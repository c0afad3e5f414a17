"""Direction discovery on the tiny trained model: batched embedding, fitted directions, bundled direction files."""

import shutil

import numpy as np
import pytest

from latent_studio.core.directions import Direction, DirectionFileError, save_direction
from latent_studio.engine.ddim import from_uint8, make_plan
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import binned_direction, difference_direction, embed_images
from latent_studio.engine.inversion import invert
from latent_studio.engine.models import load_model

STEPS = 10


def test_batched_embedding_equals_one_at_a_time(trained_model):
    import torch

    images = decode(trained_model, np.random.default_rng(0).standard_normal((3, *trained_model.latent_shape)), STEPS)
    batched = embed_images(trained_model, images, STEPS, batch=2)
    plan = make_plan(trained_model.scheduler_config, STEPS)
    single = invert(trained_model, from_uint8(torch.from_numpy(images[1:2])), plan).numpy()
    assert batched.shape == (3, *trained_model.latent_shape)
    np.testing.assert_allclose(batched[1], single[0], atol=1e-4)


def test_binned_direction_recovers_a_planted_direction():
    rng = np.random.default_rng(1)
    planted = rng.standard_normal((3, 4, 4)).astype(np.float32)
    values = np.repeat(np.linspace(-30, 30, 7), 20)
    latents = rng.standard_normal((len(values), 3, 4, 4)) + values[:, None, None, None] * planted * 0.05
    direction = binned_direction("Turn", latents, values, "hash", strength_range=(-30, 30), unit="degrees", bins=7)
    cosine = float(np.sum(direction.vector * planted) / np.linalg.norm(direction.vector) / np.linalg.norm(planted))
    assert cosine > 0.95
    assert float(direction.info["r2"]) > 0.8 and direction.unit == "degrees"
    glasses = difference_direction("Glasses", latents, values > 0, "hash")
    assert glasses.info == {"positives": "60", "negatives": "80"}


def test_model_directions_load_in_order_and_refuse_another_models(trained_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    model = load_model(str(folder), device="cpu")
    assert model_directions(model) == []
    vector = np.ones(model.latent_shape, np.float32)
    (folder / "directions").mkdir()

    save_direction(folder / "directions" / "02_b.safetensors", Direction("B", vector, "m", (-1, 1), model.content_hash))
    save_direction(folder / "directions" / "01_a.safetensors", Direction("A", vector, "m", (-1, 1), model.content_hash))
    assert [d.name for d in model_directions(model)] == ["A", "B"]
    save_direction(folder / "directions" / "03_c.safetensors", Direction("C", vector, "m", (-1, 1), "0" * 64))
    with pytest.raises(DirectionFileError, match="fitted for model 000000000000"):
        model_directions(model)
