"""Direction discovery for any model: embed labelled images in batches, fit directions, label them.

The fitting itself is plain linear algebra in ``core.directions``; this module
adds what needs the model (batched embedding) and turns fits into
``Direction`` records that carry their method, quality and usable range, so
the same discovery serves the bundled demo model and, later, a user's model.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import (
    Direction,
    fit_binned_direction,
    mean_difference_direction,
)
from latent_studio.engine.ddim import from_uint8
from latent_studio.engine.embedding import make_embedder
from latent_studio.engine.inversion import DEFAULT_CLAMP_ITERATIONS, DEFAULT_FIXED_POINT_ITERATIONS
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
