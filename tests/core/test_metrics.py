import numpy as np
import pytest

from latent_studio.core.metrics import latent_stats, psnr
from latent_studio.core.seeds import noise_latent


def test_psnr_known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert psnr(a, b) == float("inf")
    b[:] = 1  # MSE 1 -> 20*log10(255) = 48.13 dB
    assert psnr(a, b) == pytest.approx(48.1308, abs=1e-3)
    with pytest.raises(ValueError):
        psnr(a, np.zeros((2, 2, 3)))


def test_white_noise_stats_are_noise_like():
    stats = latent_stats(noise_latent(0, (3, 64, 64)))
    assert abs(stats.mean) < 0.03
    assert stats.std == pytest.approx(1.0, abs=0.03)
    assert abs(stats.autocorr_lag1) < 0.03


def test_smooth_latent_has_high_autocorrelation():
    y, x = np.mgrid[0:32, 0:32] / 32.0
    smooth = np.stack([np.sin(6 * x + c) + np.cos(5 * y) for c in range(3)])
    assert latent_stats(smooth).autocorr_lag1 > 0.9


def test_frechet_distance_is_zero_for_one_set_and_the_squared_shift_for_a_moved_one():
    from latent_studio.core.metrics import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0, 0, 0, 0])
    assert frechet_distance(a, a + shift) == pytest.approx(9.0, rel=1e-6)
    # Doubling the spread: |m - 2m|^2 + Tr(S + 4S - 2*2S) = |m|^2 + Tr(S).
    expected = np.sum(a.mean(axis=0) ** 2) + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a, a[:, :3])


def test_an_exact_reconstruction_reads_as_exact_not_inf_db():
    from latent_studio.core.metrics import describe_psnr

    image = np.zeros((4, 4, 3), np.uint8)
    assert describe_psnr(psnr(image, image)) == "exact (every pixel identical)"
    assert describe_psnr(38.04) == "38.0 dB" and describe_psnr(38.046, 2) == "38.05 dB"
