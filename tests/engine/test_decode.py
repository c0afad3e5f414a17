"""Decoding: deterministic, batch-invariant, the same function as diffusers' DDIM, cancellable."""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, LatentFileError, UserError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.ddim import make_plan
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model
from tests.conftest import make_scheduler, make_tiny_unet, save_pipeline

STEPS = 10


def latents(model, seeds):
    return np.stack([noise_latent(s, model.latent_shape) for s in seeds])


def diffusers_loop(model, latent, steps):
    """The per-frame loop a user would write with diffusers."""
    scheduler = DDIMScheduler.from_config(model.scheduler_config)
    scheduler.set_timesteps(steps)
    x = torch.from_numpy(latent)[None]
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(model.family.unet(x, t).sample, t, x, eta=0.0).prev_sample
    return ((x / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)[0].numpy()


def test_same_latent_same_image(trained_model):
    z = latents(trained_model, [1])
    np.testing.assert_array_equal(decode(trained_model, z, STEPS), decode(trained_model, z, STEPS))


def test_batch_equals_single(trained_model):
    z = latents(trained_model, [1, 2, 3, 4, 5])
    batched = decode(trained_model, z, STEPS, batch_size=5)
    singles = np.concatenate([decode(trained_model, z[i : i + 1], STEPS, batch_size=1) for i in range(5)])
    assert np.abs(batched.astype(int) - singles.astype(int)).max() <= 1
    assert not np.array_equal(batched[0], batched[1])  # different seeds, different pictures


@pytest.mark.parametrize("clip_sample", [False, True])
def test_matches_a_plain_diffusers_ddim_loop(trained_model_dir, tmp_path, clip_sample):
    folder = tmp_path / "m"
    import shutil

    shutil.copytree(trained_model_dir, folder)
    make_scheduler(clip_sample=clip_sample).save_pretrained(folder / "scheduler")
    model = load_model(str(folder), device="cpu")
    z = latents(model, [11])[0]
    ours = decode(model, z, STEPS)[0]
    theirs = diffusers_loop(model, z, STEPS)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_other_prediction_types_decode(tmp_path, prediction_type):
    folder = save_pipeline(tmp_path / "m", make_tiny_unet(), make_scheduler(prediction_type=prediction_type))
    model = load_model(str(folder), device="cpu")
    z = latents(model, [1])[0]
    ours = decode(model, z, 5)[0]
    assert np.abs(ours.astype(int) - diffusers_loop(model, z, 5).astype(int)).max() <= 1


def test_progress_counts_every_step_of_every_batch(trained_model):
    seen = []
    decode(trained_model, latents(trained_model, range(5)), 4, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 12) for i in range(1, 13)]


def test_cancel_stops_promptly_and_returns_nothing(trained_model):
    token = CancelToken()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        decode(trained_model, latents(trained_model, [1, 2]), STEPS, progress=progress, cancel=token)
    assert seen == [1, 2]  # not one UNet evaluation after the cancel


def test_wrong_latents_are_refused(trained_model):
    with pytest.raises(LatentFileError, match="expects"):
        decode(trained_model, np.zeros((3, 8, 8), np.float32), STEPS)
    bad = latents(trained_model, [1])
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(LatentFileError, match="NaN"):
        decode(trained_model, bad, STEPS)
    with pytest.raises(LatentFileError, match="floating"):
        decode(trained_model, np.zeros((1, 3, 16, 16), np.int64), STEPS)


def test_plan_matches_diffusers_schedule(trained_model):
    plan = make_plan(trained_model.scheduler_config, 10)
    assert plan.timesteps == tuple(range(900, -1, -100))
    assert plan.alphas_prev[-1] == 1.0  # set_alpha_to_one: the last step lands on the clean image
    assert all(a < b for a, b in zip(plan.alphas, plan.alphas_prev, strict=True))
    with pytest.raises(UserError, match="at least 1"):
        make_plan(trained_model.scheduler_config, 0)
    with pytest.raises(UserError, match="at most the model's 1000"):
        make_plan(trained_model.scheduler_config, 1001)


def test_decode_refuses_a_latent_far_outside_the_models_noise():
    from types import SimpleNamespace

    from latent_studio.core.errors import LatentFileError
    from latent_studio.engine.decode import check_latents

    model = SimpleNamespace(latent_shape=(3, 4, 4), source=SimpleNamespace(spec="tiny"))
    with pytest.raises(LatentFileError, match=r"values up to 1e\+30.*cannot be decoded"):
        check_latents(model, np.full((3, 4, 4), 1e30, np.float32))


def test_decoding_in_bf16_keeps_the_weights_and_the_embedding_in_float32(trained_model_dir):
    """A CPU with bf16 instructions decodes under bf16 autocast (engine.devices): its frames differ from float32's,
    but little; the frame cache and the kept source trajectories tell the two apart; and embedding (inversion)
    stays float32, latent for latent."""
    from latent_studio.core.metrics import psnr
    from latent_studio.engine.embedding import embed
    from latent_studio.engine.render import cache_key
    from latent_studio.engine.source_attention import _trajectory_key

    full = load_model(str(trained_model_dir), device="cpu", dtype="float32")
    fast = load_model(str(trained_model_dir), device="cpu", dtype="float32", decode_dtype="bf16")
    assert next(fast.family.unet.parameters()).dtype == torch.float32
    z = latents(full, [3, 4])
    ours, theirs = decode(fast, z, STEPS), decode(full, z, STEPS)
    assert not np.array_equal(ours, theirs)  # decoded in bf16...
    assert min(psnr(a, b) for a, b in zip(ours, theirs, strict=True)) > 35  # ...and close (untrained: edges move)
    assert cache_key(z[0], full, STEPS) != cache_key(z[0], fast, STEPS)
    assert _trajectory_key(full, z[0], STEPS, 0, None) != _trajectory_key(fast, z[0], STEPS, 0, None)  # kept K/V
    picture = decode(full, z[:1], STEPS)[0]
    np.testing.assert_array_equal(embed(full, picture, STEPS, mode="inversion").latent,
                                  embed(fast, picture, STEPS, mode="inversion").latent)
