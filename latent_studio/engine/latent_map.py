"""A 2-D map of faces: latents placed by what their pictures share, not by their raw noise.

Raw x_T noise is nearly equidistant (two Gaussian latents of dimension d are
about sqrt(2d) apart whatever they show), so the map needs other features.
Two are offered: the pictures themselves, decoded at a few steps and reduced
to 32x32 ("pictures", the default), and the UNet's bottleneck (the middle
block's output part-way down a short DDIM plan, Kwon et al.'s h-space).
Measured on the bundled model (``benchmarks/bench_latent_map.py``, 80
seeds): the Spearman correlation of pairwise distances with those of the
final pictures is -0.05 for raw x_T, 0.29-0.36 for the bottleneck and 0.74
for 4-step pictures, which also cost less than the bottleneck at step 5.
The features are projected to 2-D by PCA (instant) or UMAP (umap-learn,
when installed).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.errors import UserError
from latent_studio.core.metrics import reduced_picture
from latent_studio.engine.ddim import ddim_step, make_plan
from latent_studio.engine.models import LoadedModel

METHODS = ("pca", "umap")
SPACES = ("pictures", "bottleneck")
BATCH = 16
PLAN_STEPS = 10  # the features are read at step AT_STEP of a DDIM plan this long
AT_STEP = 5


def bottleneck_features(model: LoadedModel, latents: np.ndarray, steps: int = PLAN_STEPS, at: int = AT_STEP,
                        progress: Callable[[int, int], None] | None = None,
                        cancel: CancelToken | None = None) -> np.ndarray:
    """(N, F) float32: the middle block's output for each latent at DDIM step ``at`` of ``steps``, flattened
    (``at`` + 1 UNet calls per latent)."""
    block = getattr(model.family.denoiser, "mid_block", None)
    if block is None:
        raise UserError(f"Model '{model.source.spec}' has no UNet middle block to map faces by.")
    plan = make_plan(model.scheduler_config, steps)
    at = min(at, plan.steps - 1)
    captured: list[torch.Tensor] = []
    hook = block.register_forward_hook(lambda module, args, output: captured.append(output.float().flatten(1).cpu()))
    features = []
    try:
        for start in range(0, len(latents), BATCH):
            x = torch.from_numpy(np.ascontiguousarray(latents[start:start + BATCH], np.float32))
            x = x.to(model.placement.device)
            for k in range(at + 1):
                check(cancel)
                captured.clear()
                with torch.inference_mode():
                    x = ddim_step(model.family, x, plan, k)
            features.append(captured[-1].numpy())
            if progress:
                progress(min(start + BATCH, len(latents)), len(latents))
    finally:
        hook.remove()
    return np.concatenate(features).astype(np.float32)


def picture_features(images: np.ndarray) -> np.ndarray:
    """(N, F) float32: each picture reduced to about 32x32, in 0..1."""
    return np.stack([reduced_picture(image).ravel() for image in images]).astype(np.float32)


def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) positions, each axis scaled to [0, 1]."""
    if method not in METHODS:
        raise UserError(f"Map method '{method}' is unknown; choose {' or '.join(METHODS)}.")
    if len(features) < 3:
        raise UserError("A map needs at least three faces.")
    centred = features - features.mean(axis=0)
    if method == "pca":
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        points = centred @ axes[:2].T
    else:
        try:
            import umap
        except ImportError:
            raise UserError("UMAP needs umap-learn: pip install umap-learn (or use --method pca).") from None
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(features) - 1), random_state=seed, n_jobs=1)
        points = reducer.fit_transform(centred)
    low, high = points.min(axis=0), points.max(axis=0)
    return ((points - low) / np.where(high > low, high - low, 1.0)).astype(np.float32)
