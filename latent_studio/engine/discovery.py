"""Direction discovery for any model: embed labelled images in batches, fit directions, label them; or find the
model's main ways of varying without labels (``discover_directions``).

The fitting itself is plain linear algebra in ``core.directions``; this module
adds what needs the model (batched embedding) and turns fits into
``Direction`` records that carry their method, quality and usable range, so
the same discovery serves the bundled demo model and, later, a user's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import (
    Direction,
    fit_binned_direction,
    mean_difference_direction,
)
from latent_studio.core.errors import UserError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.ddim import from_uint8
from latent_studio.engine.decode import decode
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.embedding import make_embedder
from latent_studio.engine.inversion import DEFAULT_CLAMP_ITERATIONS, DEFAULT_FIXED_POINT_ITERATIONS
from latent_studio.engine.latent_map import picture_features
from latent_studio.engine.models import LoadedModel

Progress = Callable[[int, int], None]  # images embedded, total


def embed_images(
    model: LoadedModel,
    pixels: np.ndarray,
    steps: int,
    *,
    batch: int = 32,
    mode: str = "inversion",
    fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
    clamp_iterations: int = DEFAULT_CLAMP_ITERATIONS,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """uint8 (N, H, W, 3) prepared images to float32 latents (N, C, H, W), ``batch`` at a time, by ``mode``."""
    embedder = make_embedder(model, mode, fixed_point_iterations=fixed_point_iterations,
                             clamp_iterations=clamp_iterations)
    latents = []
    for start in range(0, len(pixels), batch):
        chunk = torch.from_numpy(np.ascontiguousarray(pixels[start : start + batch]))
        images = from_uint8(chunk).to(model.placement.device, model.placement.dtype)
        latents.append(embedder.latents(images, steps, cancel=cancel).latents.float().cpu().numpy())
        if progress:
            progress(min(start + batch, len(pixels)), len(pixels))
    return np.concatenate(latents).astype(np.float32)


def binned_direction(
    name: str,
    latents: np.ndarray,
    values: np.ndarray,
    model_hash: str,
    *,
    strength_range: tuple[float, float],
    unit: str = "",
    bins: int = 12,
) -> Direction:
    """Method (a): strength 1 moves the latent by one unit of the factor."""
    fit = fit_binned_direction(latents, values, bins)
    info = {"r2": f"{fit.r2:.4f}", "examples": str(len(latents)), "bins": str(len(fit.counts))}
    return Direction(name, fit.direction, "binned-centroid regression", strength_range, model_hash, unit, info)


def difference_direction(
    name: str,
    latents: np.ndarray,
    positive: np.ndarray,
    model_hash: str,
    *,
    strength_range: tuple[float, float] = (-1.0, 1.0),
) -> Direction:
    """Method (b): strength 1 is the whole difference between the two groups' means."""
    vector = mean_difference_direction(latents, positive)
    info = {"positives": str(int(np.sum(positive))), "negatives": str(int(np.sum(~np.asarray(positive, bool))))}
    return Direction(name, vector, "mean difference", strength_range, model_hash, "", info)


# ---------------------------------------------------------------- unsupervised

DISCOVERY_SEED = 5_000_000  # the sampled faces directions are found on
CHECK_SEED = 6_000_000  # the faces each direction is calibrated on
CHECK_FACES = 32
CHECK_STEP = 15.0  # latent units moved to measure a direction's effect (a latent's norm is about 110 at 64x64)
FALLBACK_STEPS = 10  # DDIM steps of the pictures when the model has no draft decoder


@dataclass(frozen=True)
class Discovery:
    directions: list[Direction]  # "Component 1", ...: strength 1 moves the component by one standard deviation
    explained: np.ndarray  # the fraction of the pictures' variance each component carries
    steps: int  # how the pictures were decoded (DRAFT_PASS: the draft decoder)


def discover_directions(model: LoadedModel, count: int = 6, samples: int = 1024, *, steps: int | None = None,
                        progress: Progress | None = None, cancel: CancelToken | None = None) -> Discovery:
    """The model's main ways of varying, found without labels (issue 17's unsupervised discovery).

    ``samples`` seeded faces are decoded (one pass of the draft decoder when the model has one, else a few DDIM
    steps) and their pictures, reduced to 32x32, are split into principal components. Each component's latent
    direction is the regression of the latents on its scores (the latents' mean weighted by how far each face
    lies along the component: the binned-centroid regression of the seed paper, with the component as the
    label). The directions are made orthogonal in order of variance and calibrated on other faces so that a
    strength of 1 moves the component by one standard deviation.
    """
    if not 1 <= count <= 32:
        raise UserError(f"Ask for between 1 and 32 directions, not {count}.")
    if samples < 4 * count:
        raise UserError(f"{samples} faces are too few to find {count} directions; use at least {4 * count}.")
    steps = (DRAFT_PASS if model.draft is not None else FALLBACK_STEPS) if steps is None else steps
    total = samples + CHECK_FACES * (count + 1)
    done = 0

    def pictures(latents: np.ndarray) -> np.ndarray:
        nonlocal done
        images = decode(model, latents, steps, batch_size=32, cancel=cancel)
        done += len(latents)
        if progress:
            progress(done, total)
        return images

    latents = np.stack([noise_latent(DISCOVERY_SEED + i, model.latent_shape) for i in range(samples)])
    features = np.concatenate([picture_features(pictures(latents[i : i + 128])) for i in range(0, samples, 128)])
    mean = features.mean(axis=0)
    left, singular, axes = np.linalg.svd(features - mean, full_matrices=False)
    spread = singular[:count] / np.sqrt(samples)  # each component's standard deviation
    scores = left[:, :count] * np.sqrt(samples)  # unit variance
    regression = latents.reshape(samples, -1).T.astype(np.float64) @ scores / samples  # (D, count)
    units, _ = np.linalg.qr(regression)  # orthonormal, in order of variance
    units *= np.sign(np.sum(units * regression, axis=0))  # keep each one pointing the component's way

    def component_scores(images: np.ndarray) -> np.ndarray:
        return (picture_features(images) - mean) @ axes[:count].T / spread

    check = np.stack([noise_latent(CHECK_SEED + i, model.latent_shape) for i in range(CHECK_FACES)])
    base = component_scores(pictures(check))
    directions = []
    for k in range(count):
        unit = units[:, k].reshape(model.latent_shape).astype(np.float32)
        moved = component_scores(pictures(check + CHECK_STEP * unit))
        slope = float((moved[:, k] - base[:, k]).mean()) / CHECK_STEP  # standard deviations per latent unit
        scale = 1.0 / slope if slope > 1e-3 else 0.0
        info = {"explained": f"{singular[k] ** 2 / np.sum(singular ** 2):.4f}", "samples": str(samples),
                "std per latent unit": f"{slope:.4f}",
                "decode": "draft decoder" if steps == DRAFT_PASS else f"{steps} steps"}
        directions.append(Direction(f"Component {k + 1}", unit * scale, "picture PCA (unsupervised)", (-3.0, 3.0),
                                    model.content_hash, "std", info))
    return Discovery(directions, (singular[:count] ** 2 / np.sum(singular ** 2)).astype(np.float32), steps)


STRIP_STRENGTHS = (-3.0, -1.5, 0.0, 1.5, 3.0)


def strip(model: LoadedModel, direction: Direction, latent: np.ndarray, strengths=STRIP_STRENGTHS, *,
          steps: int | None = None) -> np.ndarray:
    """(len(strengths), H, W, 3): one face moved along a direction, for a gallery."""
    steps = (DRAFT_PASS if model.draft is not None else FALLBACK_STEPS) if steps is None else steps
    return decode(model, np.stack([latent + s * direction.vector for s in strengths]), steps)
