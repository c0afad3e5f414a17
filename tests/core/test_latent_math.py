import numpy as np
import pytest

from latent_studio.core.latent_math import (
    add_directions,
    arithmetic,
    project_to_typical_norm,
    slerp,
    typical_norm,
)
from latent_studio.core.seeds import noise_latent

SHAPE = (3, 16, 16)


def angle(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))


def test_slerp_endpoints_are_exact():
    a, b = noise_latent(1, SHAPE), noise_latent(2, SHAPE)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)


@pytest.mark.parametrize("t", [0.1, 0.25, 0.5, 0.9])
def test_slerp_moves_at_constant_angular_speed_and_keeps_norm(t):
    a = project_to_typical_norm(noise_latent(1, SHAPE))
    b = project_to_typical_norm(noise_latent(2, SHAPE))
    mid = slerp(a, b, t)
    assert np.linalg.norm(mid) == pytest.approx(typical_norm(SHAPE), rel=1e-5)
    assert angle(a, mid) == pytest.approx(t * angle(a, b), rel=1e-4)


def test_lerp_midpoint_of_noise_is_too_quiet_but_slerp_is_not():
    a, b = noise_latent(1, SHAPE), noise_latent(2, SHAPE)
    # independent noise is nearly orthogonal: the lerp midpoint has ~1/sqrt(2) of the norm
    assert np.linalg.norm((a + b) / 2) / typical_norm(SHAPE) < 0.8
    assert np.linalg.norm(slerp(a, b, 0.5)) / typical_norm(SHAPE) > 0.95


def test_slerp_near_parallel_falls_back_to_lerp_without_nan():
    a = noise_latent(1, SHAPE)
    b = a * (1 + 1e-9)
    out = slerp(a, b, 0.5)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, a, rtol=1e-6)


def test_slerp_of_opposite_latents_is_defined_and_halfway_orthogonal():
    a = noise_latent(3, SHAPE)
    out = slerp(a, -a, 0.5)
    assert np.all(np.isfinite(out))
    assert angle(a, out) == pytest.approx(np.pi / 2, abs=1e-5)
    np.testing.assert_allclose(slerp(a, -a, 1.0), -a, atol=1e-4)


def test_slerp_rejects_mismatched_shapes_and_zero():
    with pytest.raises(ValueError):
        slerp(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(ValueError):
        slerp(np.zeros(3), np.ones(3), 0.5)


def test_projection_restores_typical_norm_and_direction():
    x = noise_latent(4, SHAPE) * 3.0
    projected = project_to_typical_norm(x)
    assert np.linalg.norm(projected) == pytest.approx(np.sqrt(np.prod(SHAPE)), rel=1e-5)
    assert angle(x, projected) < 1e-3


def test_arithmetic_is_a_minus_b_plus_c_on_the_sphere():
    a, b, c = (noise_latent(s, SHAPE) for s in (1, 2, 3))
    raw = arithmetic(a, b, c, renormalize=False)
    np.testing.assert_allclose(raw, a - b + c, atol=1e-5)
    # three independent noises add up to ~sqrt(3) times the typical norm
    assert np.linalg.norm(raw) / typical_norm(SHAPE) == pytest.approx(np.sqrt(3), rel=0.1)
    assert np.linalg.norm(arithmetic(a, b, c)) == pytest.approx(typical_norm(SHAPE), rel=1e-5)


def test_add_directions_scales_each_direction():
    x = noise_latent(1, SHAPE)
    d1 = np.zeros(SHAPE, np.float32)
    d1[0, 0, 0] = 1.0
    d2 = np.zeros(SHAPE, np.float32)
    d2[1, 0, 0] = 1.0
    out = add_directions(x, [(d1, 2.0), (d2, -0.5)], renormalize=False)
    assert out[0, 0, 0] == pytest.approx(x[0, 0, 0] + 2.0)
    assert out[1, 0, 0] == pytest.approx(x[1, 0, 0] - 0.5)
    with pytest.raises(ValueError):
        add_directions(x, [(np.zeros((3, 4, 4)), 1.0)])


def test_add_directions_keeps_the_input_norm_and_is_identity_at_zero():
    x = 0.8 * noise_latent(1, SHAPE)  # an inverted latent a little off the typical norm
    d = noise_latent(2, SHAPE)
    np.testing.assert_allclose(add_directions(x, [(d, 0.0)]), x, rtol=1e-6)
    moved = add_directions(x, [(d, 0.5)])
    assert np.linalg.norm(moved) == pytest.approx(np.linalg.norm(x), rel=1e-5)
    assert not np.allclose(moved, x)


def test_noise_latent_is_deterministic_and_standard_normal():
    a, b = noise_latent(7, (3, 64, 64)), noise_latent(7, (3, 64, 64))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, noise_latent(8, (3, 64, 64)))
    assert abs(float(a.mean())) < 0.03 and abs(float(a.std()) - 1) < 0.03


def test_out_of_domain_sentence_names_what_is_wrong_and_what_to_do():
    from latent_studio.core.metrics import LatentStats, out_of_domain_sentence

    noise_like = LatentStats(0.0, 1.0, 0.01)
    assert out_of_domain_sentence(31.0, noise_like, "toy-heads") is None
    low = out_of_domain_sentence(14.3, noise_like, "toy-heads")
    assert "outside what the model 'toy-heads' knows" in low and "14.3 dB" in low and "Choose a model" in low
    structured = out_of_domain_sentence(30.0, LatentStats(0.0, 1.0, 0.75), "toy-heads")
    assert "autocorrelation 0.75" in structured
    assert "std 1.60" in out_of_domain_sentence(30.0, LatentStats(0.0, 1.6, 0.0), "m")


def test_latents_far_from_the_models_noise_are_refused_or_warned_about():
    from latent_studio.core.latent_math import latent_refusal, latent_warning

    noise = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    assert latent_refusal(noise) is None and latent_warning(noise) is None
    assert "NaN or infinite" in latent_refusal(np.where(noise > 1, np.nan, noise))
    assert "values up to 1e+30" in latent_refusal(noise * 0 + 1e30)
    assert "std 10" in latent_warning(noise / noise.std() * 10) and latent_refusal(noise * 10) is None
    assert "std 0" in latent_warning(np.zeros_like(noise))
