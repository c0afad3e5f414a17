"""Embedding: inversion reconstructs what decoding made; refinement and fixed points help; cancellable."""

import numpy as np
import pytest
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.inversion import embed, noise_prior
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
    start = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=1)
    refined = embed(trained_model, decoded_image, STEPS, fixed_point_iterations=1, refine_iterations=15)
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
