"""Image and latent measurements reported to the user."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical inputs)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs images of one shape, got {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def describe_psnr(value: float, digits: int = 1) -> str:
    """A PSNR as a person reads it: '66.3 dB', or 'exact' when every pixel came back (not 'inf dB')."""
    return "exact (every pixel identical)" if value == float("inf") else f"{value:.{digits}f} dB"


@dataclass(frozen=True)
class LatentStats:
    """How noise-like a latent is: N(0, 1) noise has mean 0, std 1 and no spatial correlation.

    Inverted latents with std far from 1 or a lag-1 autocorrelation well above 0
    carry image structure in the noise and edit badly.
    """

    mean: float
    std: float
    autocorr_lag1: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        return f"mean {self.mean:+.3f}, std {self.std:.3f}, lag-1 autocorrelation {self.autocorr_lag1:+.3f}"


def latent_stats(latent: np.ndarray) -> LatentStats:
    """Statistics of a (..., C, H, W) latent; autocorrelation averages both axes."""
    x = np.asarray(latent, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError("latent_stats needs a latent with two spatial axes")
    centred = x - x.mean()
    var = float(np.mean(centred**2))
    if var == 0.0:
        return LatentStats(float(x.mean()), 0.0, 0.0)
    horizontal = np.mean(centred[..., :, 1:] * centred[..., :, :-1]) / var
    vertical = np.mean(centred[..., 1:, :] * centred[..., :-1, :]) / var
    return LatentStats(float(x.mean()), float(np.sqrt(var)), float((horizontal + vertical) / 2.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D), as in FID.

    ``Tr sqrt(Sa Sb)`` is computed as the trace of ``sqrt(Sa^1/2 Sb Sa^1/2)``,
    a symmetric matrix, so no general matrix square root is needed.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError("Fréchet distance needs two (N, D) feature sets of the same D")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_cross = float(np.sum(np.sqrt(np.clip(cross, 0.0, None))))
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_cross)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


# Where an embedding stops being trustworthy: below this reconstruction PSNR the
# model cannot draw the image, and a latent this far from N(0, 1) noise (std, or
# spatial correlation) carries the picture in the noise and edits badly.
DOMAIN_PSNR_DB = 20.0
DOMAIN_STD_RANGE = (0.75, 1.25)
DOMAIN_AUTOCORR = 0.3


def out_of_domain_sentence(psnr_db: float, stats: LatentStats, model_name: str) -> str | None:
    """One plain sentence when an embedded image lies outside what the model knows, else None."""
    reasons = []
    if psnr_db < DOMAIN_PSNR_DB:
        reasons.append(f"reconstruction {psnr_db:.1f} dB")
    if not DOMAIN_STD_RANGE[0] <= stats.std <= DOMAIN_STD_RANGE[1]:
        reasons.append(f"latent std {stats.std:.2f} instead of about 1")
    if stats.autocorr_lag1 > DOMAIN_AUTOCORR:
        reasons.append(f"latent lag-1 autocorrelation {stats.autocorr_lag1:.2f} instead of about 0")
    if not reasons:
        return None
    consequence = ("it does not reconstruct faithfully, and edits will look wrong" if psnr_db < DOMAIN_PSNR_DB
                   else "it reconstructs, but directions and morphs will not act on it as on the model's own images")
    return (f"This image is outside what the model '{model_name}' knows: {consequence}. Choose a model trained on "
            "such images (Model ▸ Choose model in the app, --model on the command line). Measured: "
            f"{', '.join(reasons)}.")


def reduced_picture(image: np.ndarray, across: int = 32) -> np.ndarray:
    """An 8-bit picture averaged over blocks down to about ``across`` pixels, in 0..1: its coarse shape and
    colour without the grain, for comparing pictures (even pace, the latent map)."""
    picture = image.astype(np.float32) / 255.0
    height, width = picture.shape[:2]
    block = max(1, min(height, width) // across)
    height, width = height - height % block, width - width % block
    picture = picture[:height, :width]
    return picture.reshape(height // block, block, width // block, block, -1).mean(axis=(1, 3))
