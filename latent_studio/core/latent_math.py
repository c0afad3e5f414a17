"""Operations on noise latents (numpy, any shape).

A DDIM latent x_T is a Gaussian noise image: in d dimensions it lies close to
the sphere of radius sqrt(d). Interpolation therefore goes along that sphere
(slerp), and edits that change the norm are projected back onto it, because
the model has never seen noise of any other norm.
"""

from __future__ import annotations

import hashlib

from typing import Iterable

import numpy as np

_PARALLEL_EPS = 1e-6


def typical_norm(shape: tuple[int, ...]) -> float:
    """Expected norm of standard Gaussian noise of this shape (sqrt(d))."""
    return float(np.sqrt(np.prod(shape)))


def project_to_typical_norm(latent: np.ndarray) -> np.ndarray:
    """Rescale ``latent`` to norm sqrt(d), keeping its direction."""
    latent = np.asarray(latent)
    norm = float(np.linalg.norm(latent))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("cannot project a zero or non-finite latent onto the noise sphere")
    return (latent * (typical_norm(latent.shape) / norm)).astype(latent.dtype, copy=False)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1).

    Near-parallel inputs fall back to linear interpolation (exact in the limit);
    exactly opposite inputs, which have no unique great circle, go through a
    deterministic vector orthogonal to ``a``.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"slerp needs latents of one shape, got {a.shape} and {b.shape}")
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    a64 = a.astype(np.float64).ravel()
    b64 = b.astype(np.float64).ravel()
    norm_a, norm_b = np.linalg.norm(a64), np.linalg.norm(b64)
    if norm_a == 0.0 or norm_b == 0.0:
        raise ValueError("slerp is undefined for a zero latent")
    cos = float(np.clip(np.dot(a64, b64) / (norm_a * norm_b), -1.0, 1.0))
    omega = np.arccos(cos)
    sin_omega = np.sin(omega)
    if sin_omega < _PARALLEL_EPS and cos > 0:
        out = (1.0 - t) * a64 + t * b64
    elif sin_omega < _PARALLEL_EPS:
        out = _slerp_opposite(a64, norm_b, t)
    else:
        out = (np.sin((1.0 - t) * omega) * a64 + np.sin(t * omega) * b64) / sin_omega
    return out.reshape(a.shape).astype(dtype)


def _slerp_opposite(a: np.ndarray, norm_b: float, t: float) -> np.ndarray:
    """Half great circle from a to -a through a fixed orthogonal vector."""
    ortho = np.roll(a, 1) - a * (np.dot(np.roll(a, 1), a) / np.dot(a, a))
    if np.linalg.norm(ortho) < _PARALLEL_EPS:  # a is constant: any other axis works
        ortho = np.zeros_like(a)
        ortho[0], ortho[1 % a.size] = 1.0, -1.0
    unit_a = a / np.linalg.norm(a)
    unit_o = ortho / np.linalg.norm(ortho)
    radius = (1.0 - t) * np.linalg.norm(a) + t * norm_b
    angle = t * np.pi
    return radius * (np.cos(angle) * unit_a + np.sin(angle) * unit_o)


def add_directions(
    latent: np.ndarray,
    directions: Iterable[tuple[np.ndarray, float]],
    renormalize: bool = True,
) -> np.ndarray:
    """``latent + sum(strength * direction)``, rescaled to the input latent's own norm.

    Keeping the input's norm (rather than projecting onto sqrt(d)) means that
    all strengths at zero give back exactly the latent that came in: an
    embedded image whose inverted latent is slightly off the typical norm
    still shows its own reconstruction until a slider moves.
    """
    source = np.asarray(latent)
    out = np.asarray(latent, dtype=np.float64).copy()
    for direction, strength in directions:
        direction = np.asarray(direction)
        if direction.shape != out.shape:
            raise ValueError(f"direction of shape {direction.shape} does not fit latent of shape {out.shape}")
        out += float(strength) * direction
    if renormalize:
        norm, target = float(np.linalg.norm(out)), float(np.linalg.norm(source.astype(np.float64)))
        if norm > 0.0 and target > 0.0:
            out *= target / norm
    return out.astype(np.result_type(source.dtype, np.float32))


def arithmetic(a: np.ndarray, b: np.ndarray, c: np.ndarray, renormalize: bool = True) -> np.ndarray:
    """``a - b + c`` ("with glasses" - "without" + face), back on the noise sphere.

    The sum of three independent noise images has norm about sqrt(3d); without
    the projection the model would see noise far louder than it was trained on.
    """
    shapes = {np.shape(a), np.shape(b), np.shape(c)}
    if len(shapes) != 1:
        raise ValueError(f"latent arithmetic needs latents of one shape, got {sorted(shapes)}")
    out = np.asarray(a, np.float64) - np.asarray(b, np.float64) + np.asarray(c, np.float64)
    out = out.astype(np.result_type(np.asarray(a).dtype, np.float32))
    return project_to_typical_norm(out) if renormalize else out


# A noise latent x_T is standard Gaussian: its values have std 1 and stay within a few units.
MAX_LATENT_MAGNITUDE = 1e3  # a thousand standard deviations: no model has seen anything near it
LATENT_STD_RANGE = (0.25, 4.0)  # outside this, the picture will be washed out or saturated


def latent_refusal(latent: np.ndarray, what: str = "The latent") -> str | None:
    """One sentence if ``latent`` cannot be a noise latent (non-finite or absurdly large values), else None."""
    array = np.asarray(latent)
    if array.size == 0:
        return f"{what} is empty."
    if not np.all(np.isfinite(array)):
        return f"{what} contains NaN or infinite values and cannot be decoded."
    peak = float(np.max(np.abs(array)))
    if peak > MAX_LATENT_MAGNITUDE:
        return (f"{what} has values up to {peak:.3g}, far outside the model's noise (std 1, values within a few units); "
                "it cannot be decoded into a picture.")
    return None


def latent_warning(latent: np.ndarray, what: str = "the latent") -> str | None:
    """One sentence if ``latent``'s spread is far from the model's noise (std 1), else None."""
    std = float(np.std(np.asarray(latent, np.float64)))
    low, high = LATENT_STD_RANGE
    if not low <= std <= high:
        return f"{what} has std {std:.3g}, far from the model's noise (std 1); its picture will look washed out or broken."
    return None


def latent_digest(latent: np.ndarray) -> str:
    """A short digest of a latent's float32 bytes: what content-addressed caches key it by."""
    return hashlib.blake2b(np.ascontiguousarray(latent, dtype=np.float32).tobytes(), digest_size=16).hexdigest()
