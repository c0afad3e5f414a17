"""Latent -> image: batched deterministic DDIM decode with progress and cancellation."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.errors import LatentFileError, UserError
from latent_studio.core.latent_math import latent_refusal
from latent_studio.engine.compilation import compiled_denoiser
from latent_studio.engine.ddim import DdimPlan, ddim_step, make_plan, to_uint8, to_uint16
from latent_studio.engine.devices import decoding_precision
from latent_studio.engine.draft_decoder import DRAFT_PASS, DraftDecoder
from latent_studio.engine.models import LoadedModel

Progress = Callable[[int, int], None]
DEFAULT_STEPS = 50
DEFAULT_BATCH = 8


def check_latents(model: LoadedModel, latents: np.ndarray) -> np.ndarray:
    """(C, H, W) or (N, C, H, W) finite floats of the model's shape -> float32 (N, C, H, W)."""
    array = np.asarray(latents)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or tuple(array.shape[1:]) != model.latent_shape:
        raise LatentFileError(
            f"The latent has shape {tuple(np.shape(latents))} but model '{model.source.spec}' expects "
            f"{model.latent_shape} (channels, height, width); it was made for another model."
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise LatentFileError(f"The latent is {array.dtype}; it must be floating point.")
    problem = latent_refusal(array)
    if problem:
        raise LatentFileError(problem)
    return array.astype(np.float32, copy=False)


def decode(
    model: LoadedModel,
    latents: np.ndarray,
    steps: int = DEFAULT_STEPS,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    bit_depth: int = 8,
    conditioning: Any = None,
) -> np.ndarray:
    """Noise latents (N, C, H, W) to uint8 images (N, H, W, 3) (uint16 with ``bit_depth=16``).

    Deterministic: the same latent gives the same image on the same device, and
    batching does not change the result beyond float rounding. A cancel raises
    ``Cancelled`` between UNet evaluations; nothing partial is returned.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, not {bit_depth}")
    array = check_latents(model, latents)
    if steps == DRAFT_PASS:
        if model.draft is None:
            raise UserError(f"Model '{model.source.spec}' has no draft decoder (make one with `latent-studio "
                            "train-draft`); decode with a number of DDIM steps instead.")
        return decode_draft(model, model.draft, array, batch_size=batch_size, bit_depth=bit_depth,
                            progress=progress, cancel=cancel)
    plan = make_plan(model.scheduler_config, steps)
    batches = [array[i : i + batch_size] for i in range(0, len(array), batch_size)]
    total = len(batches) * plan.steps
    done = 0
    images = []
    for batch in batches:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(model.placement.device)
        for k in range(plan.steps):
            check(cancel)
            with torch.inference_mode(), compiled_denoiser(model), decoding_precision(model.placement):
                x = ddim_step(model.family, x, plan, k, conditioning)  # compiled when chosen (engine.compilation)
            done += 1
            if progress:
                progress(done, total)
        with torch.inference_mode():
            pictures = model.family.to_images(x)
        images.append(to_uint8(pictures).numpy() if bit_depth == 8 else to_uint16(pictures))
    check(cancel)
    return np.concatenate(images, axis=0)


def decode_draft(model: LoadedModel, draft: DraftDecoder, latents: np.ndarray, *, batch_size: int = DEFAULT_BATCH,
                 bit_depth: int = 8, progress: Progress | None = None, cancel: CancelToken | None = None) -> np.ndarray:
    """One pass of the draft decoder per latent, as ``decode`` returns pictures (``steps=DRAFT_PASS`` comes here)."""
    images = []
    for start in range(0, len(latents), batch_size):
        check(cancel)
        x = torch.from_numpy(np.ascontiguousarray(latents[start : start + batch_size])).to(model.placement.device)
        with torch.inference_mode():
            pictures = model.family.to_images(draft.clean(x))
        images.append(to_uint8(pictures).numpy() if bit_depth == 8 else to_uint16(pictures))
        if progress:
            progress(min(start + batch_size, len(latents)), len(latents))
    check(cancel)
    return np.concatenate(images, axis=0)


def decode_differentiable(model: LoadedModel, x: torch.Tensor, plan: DdimPlan, checkpoint: bool = True) -> torch.Tensor:
    """Decode to images in [-1, 1] with gradients to the latent, for refinement; each step checkpointed to save memory."""
    from torch.utils.checkpoint import checkpoint as run_checkpointed

    for k in range(plan.steps):
        if checkpoint:
            x = run_checkpointed(ddim_step, model.family, x, plan, k, use_reentrant=False)
        else:
            x = ddim_step(model.family, x, plan, k)
    return model.family.to_images(x)
