"""Embedding: inversion reconstructs what decoding made; refinement and fixed points help; cancellable."""

import numpy as np
import pytest
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.embedding import embed
from latent_studio.engine.inversion import noise_prior
from tests.conftest import blob_images

STEPS = 20


@pytest.fixture(scope="module")
def decoded_image(trained_model):
    return decode(trained_model, noise_latent(5, trained_model.latent_shape), STEPS)[0]


def test_inversion_of_a_decoded_latent_reconstructs_the_image(trained_model, decoded_image):
    result = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=3)
    assert result.psnr >= 40.0
    np.testing.assert_array_equal(result.reconstruction, decode(trained_model, result.latent, STEPS)[0])
    assert result.latent.shape == trained_model.latent_shape and result.latent.dtype == np.float32
    assert 0.7 < result.stats.std < 1.5 and abs(result.stats.autocorr_lag1) < 0.2


def test_fixed_point_iterations_close_most_of_plain_inversion_error(trained_model, decoded_image):
    plain = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=0)
    fixed = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=3)
    assert fixed.psnr > plain.psnr + 10.0


def test_gradient_refinement_improves_reconstruction(trained_model, decoded_image):
    start = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=0)  # plain DDIM inversion
    refined = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=0, refine_iterations=15)
    assert refined.psnr > start.psnr + 2.0


def test_embedding_an_image_the_model_never_made(trained_model):
    image = blob_images(1, 16, torch.Generator().manual_seed(123))[0]
    pixels = ((image.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    assert embed(trained_model, pixels, STEPS, fixed_point_iterations=3).psnr >= 35.0


def test_embed_is_cancellable(trained_model, decoded_image):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        embed(trained_model, decoded_image, STEPS, cancel=token)


def test_embed_progress_ends_at_total(trained_model, decoded_image):
    seen = []
    embed(trained_model, decoded_image, 5, fixed_point_iterations=1, refine_iterations=2, progress=lambda d, t: seen.append((d, t)))
    total = 5 * 2 + 2 + 5
    assert seen[-1] == (total, total) and len(seen) == total


def test_noise_prior_separates_noise_from_structure():
    noise = torch.from_numpy(noise_latent(0, (1, 3, 32, 32)))
    smooth = torch.linspace(-2, 2, 32).repeat(1, 3, 32, 1)
    assert noise_prior(noise).item() < 0.01
    assert noise_prior(smooth).item() > 0.5


@pytest.fixture(scope="module")
def clipping_model(trained_model_dir, tmp_path_factory):
    """The trained tiny model with a scheduler that clamps the predicted clean image, as the demo model's does."""
    import json
    import shutil

    from latent_studio.engine.models import load_model

    folder = tmp_path_factory.mktemp("clipping") / "model"
    shutil.copytree(trained_model_dir, folder)
    config_path = folder / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text())
    config.update(clip_sample=True, clip_sample_range=1.0)
    config_path.write_text(json.dumps(config))
    return load_model(str(folder), device="cpu")


def test_clamp_matching_recovers_what_the_clipped_decode_loses(clipping_model, monkeypatch):
    monkeypatch.setattr("latent_studio.engine.embedding.CLAMP_TIME_FACTOR", 1e6)  # timing on a loaded machine varies
    image = blob_images(1, 16, torch.Generator().manual_seed(321))[0]
    pixels = ((image.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    unmatched = embed(clipping_model, pixels, STEPS, fixed_point_iterations=3, clamp_iterations=0)
    matched = embed(clipping_model, pixels, STEPS, fixed_point_iterations=3, clamp_iterations=20)
    assert matched.clamp_iterations == 20
    assert matched.psnr > unmatched.psnr + 1.0, (unmatched.psnr, matched.psnr)


def test_clamp_matching_makes_the_clamped_step_land_closer(clipping_model):
    from latent_studio.engine.ddim import ddim_step, make_plan
    from latent_studio.engine.inversion import _invert_step, clamped_fraction, match_clamped_step

    plan = make_plan(clipping_model.scheduler_config, STEPS)
    unet = clipping_model.family
    x_out = torch.randn((2, *clipping_model.latent_shape), generator=torch.Generator().manual_seed(4)) * 0.9
    with torch.no_grad():
        solved, _ = _invert_step(unet, x_out, plan, 0, 3, None, None)
    assert clamped_fraction(unet, solved, plan, 0) > 0.001  # the noisiest step clamps: the case to fix
    matched = match_clamped_step(unet, solved, x_out, plan, 0, 20)

    def miss(x):
        with torch.no_grad():
            return float(((ddim_step(unet, x, plan, 0) - x_out) ** 2).mean())

    assert miss(matched) < 0.5 * miss(solved), (miss(solved), miss(matched))


def test_clamp_matching_leaves_a_model_without_clip_alone(trained_model, decoded_image):
    with_matching = embed(trained_model, decoded_image, STEPS, clamp_iterations=20)
    without = embed(trained_model, decoded_image, STEPS, clamp_iterations=0)
    np.testing.assert_array_equal(with_matching.latent, without.latent)


def test_clamp_matching_never_returns_a_worse_latent_than_plain_inversion(clipping_model):
    """Whatever the image (here, two far outside what the tiny model learned), matching keeps the better latent."""
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stripes = np.zeros((16, 16, 3), np.uint8)
    stripes[::2] = 255
    for pixels in (noise, stripes):
        plain = embed(clipping_model, pixels, STEPS, fixed_point_iterations=3, clamp_iterations=0)
        matched = embed(clipping_model, pixels, STEPS, fixed_point_iterations=3, clamp_iterations=20)
        assert matched.psnr >= plain.psnr
        if matched.clamp_iterations == 0:  # matching lost: the plain latent itself comes back
            np.testing.assert_array_equal(matched.latent, plain.latent)


def test_clamp_matching_stops_when_its_time_budget_is_spent(clipping_model):
    from latent_studio.engine.ddim import from_uint8, make_plan
    from latent_studio.engine.inversion import invert

    image = from_uint8(torch.from_numpy(decode(clipping_model, noise_latent(3, clipping_model.latent_shape), STEPS)))
    plan = make_plan(clipping_model.scheduler_config, STEPS)
    plain = invert(clipping_model, image, plan, 2, clamp_iterations=0)
    no_time = invert(clipping_model, image, plan, 2, clamp_iterations=20, clamp_seconds=0.0)
    torch.testing.assert_close(no_time, plain, rtol=0, atol=0)


def test_embed_progress_with_clamp_matching_ends_at_total(clipping_model):
    image = decode(clipping_model, noise_latent(6, clipping_model.latent_shape), 5)[0]
    seen = []
    embed(clipping_model, image, 5, fixed_point_iterations=1, clamp_iterations=2, progress=lambda d, t: seen.append((d, t)))
    total = 2 * 5 * (2 + 1) + 5 * 2  # a plain and a matched inversion, each decoded, plus the matching iterations
    assert seen[-1] == (total, total)
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:]))


def test_the_extrapolated_start_fits_as_well_with_fewer_unet_calls(trained_model, decoded_image):
    from latent_studio.core.metrics import psnr
    from latent_studio.engine.ddim import from_uint8, make_plan
    from latent_studio.engine.inversion import _invert_step, invert

    plan = make_plan(trained_model.scheduler_config, STEPS)
    target = from_uint8(torch.from_numpy(decoded_image[None]))
    calls = []
    hook = trained_model.family.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        latent = invert(trained_model, target, plan)
        extrapolated_calls = len(calls)
        calls.clear()
        x = target
        with torch.no_grad():
            for k in reversed(range(plan.steps)):  # the plain start with all 3 iterations at every step
                x, _ = _invert_step(trained_model.family, x, plan, k, 3, None, None, tolerance=0.0)
        plain_calls = len(calls)
    finally:
        hook.remove()
    fit = psnr(decode(trained_model, latent.numpy(), STEPS)[0], decoded_image)
    plain_fit = psnr(decode(trained_model, x.numpy(), STEPS)[0], decoded_image)
    assert plain_calls == 4 * STEPS and extrapolated_calls < 0.7 * plain_calls
    assert fit >= plain_fit - 0.5, (fit, plain_fit)
