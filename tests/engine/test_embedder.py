"""The one-pass embedding network: trained on the model's own pairs, saved beside it, used by embed's modes."""

import json
import shutil

import numpy as np
import pytest

from latent_studio.core.errors import ModelError, UserError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.embedder_training import EmbedderRecipe, sample_pairs, save_embedder, train_embedder
from latent_studio.engine.embedding import embed
from latent_studio.engine.models import load_model

STEPS = 10
RECIPE = EmbedderRecipe(pairs=96, steps=STEPS, training_steps=150, batch=16, learning_rate=2e-3, channels=(8, 8, 16, 16), held_out=8)


@pytest.fixture(scope="module")
def model_with_embedder(trained_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedder") / "model"
    shutil.copytree(trained_model_dir, folder)
    model = load_model(str(folder), device="cpu")
    assert model.embedder is None
    pairs = sample_pairs(model, RECIPE.pairs, STEPS)
    network, info = train_embedder(model, RECIPE, pairs)
    save_embedder(network, folder)
    return load_model(str(folder), device="cpu"), info


def test_pairs_are_the_models_own_decodes(trained_model):
    pairs = sample_pairs(trained_model, 3, STEPS, first_seed=40)
    np.testing.assert_array_equal(pairs.latents[1], noise_latent(41, trained_model.latent_shape))
    np.testing.assert_array_equal(pairs.images, decode(trained_model, pairs.latents, STEPS))


def test_the_network_is_saved_beside_the_model_and_loaded_with_it(model_with_embedder):
    model, info = model_with_embedder
    assert model.embedder is not None and model.embedder.steps == STEPS
    assert model.embedder.model_hash == model.content_hash
    saved = json.loads((model.source.folder / "embedder" / "embedder.json").read_text())
    assert saved["held_out_psnr_mean"] == pytest.approx(info["held_out_psnr_mean"])
    assert info["final_loss"] < 1.0  # a unit-variance latent guessed as zeros scores 1.0


def test_one_pass_embedding_beats_a_blind_guess(model_with_embedder):
    model, _ = model_with_embedder
    truth = noise_latent(7, model.latent_shape)  # a seed the network never saw
    image = decode(model, truth, STEPS)[0]
    network = embed(model, image, STEPS, mode="network")
    blind = decode(model, np.zeros(model.latent_shape, np.float32), STEPS)[0]
    from latent_studio.core.metrics import psnr

    assert network.mode == "network" and network.psnr > psnr(blind, image) + 1.0
    assert np.mean((network.latent - truth) ** 2) < 0.9 * np.mean(truth**2)
    np.testing.assert_array_equal(network.reconstruction, decode(model, network.latent, STEPS)[0])
    assert embed(model, image, STEPS).mode == "inversion"  # auto


def test_a_network_for_other_weights_is_ignored_and_network_modes_then_say_so(model_with_embedder, tmp_path):
    model, _ = model_with_embedder
    folder = tmp_path / "model"
    shutil.copytree(model.source.folder, folder)
    info_path = folder / "embedder" / "embedder.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "model_hash": "f" * 64}))
    other = load_model(str(folder), device="cpu")
    assert other.embedder is None
    with pytest.raises(UserError, match="has no embedding network; train one"):
        embed(other, np.zeros((16, 16, 3), np.uint8), STEPS, mode="network")


def test_a_damaged_network_is_one_sentence(model_with_embedder, tmp_path):
    model, _ = model_with_embedder
    folder = tmp_path / "model"
    shutil.copytree(model.source.folder, folder)
    weights = folder / "embedder" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="embedding network .* is damaged"):
        load_model(str(folder), device="cpu")


def test_an_unknown_mode_is_a_user_error(trained_model):
    with pytest.raises(UserError, match="Unknown embedding mode"):
        embed(trained_model, np.zeros((16, 16, 3), np.uint8), STEPS, mode="magic")


def test_the_evaluation_measures_the_network_beside_inversion(model_with_embedder):
    from latent_studio.demo.evaluation import Sizes, inversion_row, network_row

    model, _ = model_with_embedder
    images = decode(model, np.stack([noise_latent(60 + i, model.latent_shape) for i in range(4)]), STEPS)
    sizes = Sizes(embeddings=4, steps=STEPS, batch=2)
    inversion, _ = inversion_row(model, images, sizes)
    network = network_row(model, images, sizes)
    assert (inversion.method, network.method) == ("inversion", "network")
    assert network.seconds_batched < inversion.seconds_batched  # one pass against a whole inversion
    assert inversion.psnr_mean > network.psnr_mean > 0 and network.psnr_min <= network.psnr_mean


def test_a_time_limit_ends_training_early(trained_model):
    import dataclasses

    pairs = sample_pairs(trained_model, 32, STEPS)
    recipe = dataclasses.replace(RECIPE, training_steps=1_000_000, time_limit=1.0, batch=8)
    _, info = train_embedder(trained_model, recipe, pairs)
    assert 0 < info["training_steps_run"] < 1_000_000


def test_cached_pairs_come_back_only_for_the_same_model_and_steps(trained_model, tmp_path):
    from latent_studio.engine.embedder_training import load_pairs, save_pairs

    pairs = sample_pairs(trained_model, 3, STEPS)
    path = tmp_path / "pairs.npz"
    save_pairs(pairs, path, "hash-a", STEPS)
    loaded = load_pairs(path, "hash-a", STEPS)
    np.testing.assert_array_equal(loaded.images, pairs.images)
    np.testing.assert_array_equal(loaded.latents, pairs.latents)
    assert load_pairs(path, "hash-b", STEPS) is None and load_pairs(path, "hash-a", STEPS + 1) is None
    path.write_bytes(b"not an npz file")
    assert load_pairs(path, "hash-a", STEPS) is None


def test_inversion_pairs_hold_latents_that_decode_back_to_their_images(trained_model):
    from latent_studio.core.metrics import psnr
    from latent_studio.engine.embedder_training import inversion_pairs

    images = decode(trained_model, np.stack([noise_latent(s, trained_model.latent_shape) for s in (3, 4)]), STEPS)
    pairs = inversion_pairs(trained_model, images, STEPS, batch=1)
    np.testing.assert_array_equal(pairs.images, images)
    for latent, image in zip(pairs.latents, images, strict=True):
        assert psnr(decode(trained_model, latent, STEPS)[0], image) > 35.0


def test_discovery_embeds_through_the_same_seam_in_either_mode(model_with_embedder):
    import torch

    from latent_studio.engine.ddim import from_uint8
    from latent_studio.engine.discovery import embed_images

    model, _ = model_with_embedder
    images = decode(model, np.stack([noise_latent(seed, model.latent_shape) for seed in (8, 9, 10)]), STEPS)
    by_network = embed_images(model, images, STEPS, batch=2, mode="network")
    np.testing.assert_allclose(by_network, model.embedder.latents(from_uint8(torch.from_numpy(images))).numpy(), atol=1e-5)
    by_inversion = embed_images(model, images, STEPS, batch=2)
    reconstructions = decode(model, by_inversion, STEPS)
    from latent_studio.core.metrics import psnr

    assert min(psnr(a, b) for a, b in zip(reconstructions, images)) > max(
        psnr(a, b) for a, b in zip(decode(model, by_network, STEPS), images))


def test_a_network_can_start_from_the_one_an_earlier_model_had(model_with_embedder, trained_model):
    """--init-from: after a fine-tune the network is retrained from the old one; widths must match."""
    import dataclasses

    import torch

    old, _ = model_with_embedder
    pairs = sample_pairs(trained_model, 24, STEPS)
    still = dataclasses.replace(RECIPE, training_steps=1, batch=8, learning_rate=0.0, init_from=str(old.source.folder))
    network, _ = train_embedder(trained_model, still, pairs)
    for name, value in old.embedder.unet.state_dict().items():
        torch.testing.assert_close(network.unet.state_dict()[name].to(value.dtype), value)
    with pytest.raises(ModelError, match="another architecture"):
        train_embedder(trained_model, dataclasses.replace(still, channels=(16, 16, 32, 32)), pairs)
    with pytest.raises(ModelError, match="no embedding network in .* to start from"):
        train_embedder(trained_model, dataclasses.replace(still, init_from=str(trained_model.source.folder)), pairs)
