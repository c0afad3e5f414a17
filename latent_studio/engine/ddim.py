"""Deterministic DDIM (eta = 0) on a model's trained noise schedule, as plain numbers.

A ``DdimPlan`` is a frozen table: for each step, the timestep the UNet sees and
the cumulative alphas of the level it leaves and the level it reaches. Both
decoding and inversion walk this one table, so inversion undoes exactly the
map that decoding applies. The table is computed by diffusers' DDIMScheduler,
so timestep spacing and the final alpha agree with a diffusers DDIM loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from latent_studio.core.errors import UserError
from latent_studio.engine.models import make_ddim_scheduler


@dataclass(frozen=True)
class DdimPlan:
    timesteps: tuple[int, ...]  # descending; step k evaluates the UNet at timesteps[k]
    alphas: tuple[float, ...]  # cumulative alpha of the level step k starts from
    alphas_prev: tuple[float, ...]  # cumulative alpha of the level step k reaches
    prediction_type: str
    clip_range: float | None  # clamp of the predicted clean image, as the scheduler config asks

    @property
    def steps(self) -> int:
        return len(self.timesteps)


def make_plan(scheduler_config: dict[str, Any], steps: int) -> DdimPlan:
    if steps < 1:
        raise UserError(f"The number of DDIM steps must be at least 1, got {steps}.")
    scheduler = make_ddim_scheduler(scheduler_config)
    train_steps = scheduler.config.num_train_timesteps
    if steps > train_steps:
        raise UserError(f"The number of DDIM steps must be at most the model's {train_steps} training steps, got {steps}.")
    scheduler.set_timesteps(steps)
    cumprod = scheduler.alphas_cumprod.double()
    final = float(scheduler.final_alpha_cumprod)
    stride = train_steps // steps
    timesteps = tuple(int(t) for t in scheduler.timesteps)
    alphas = tuple(float(cumprod[t]) for t in timesteps)
    alphas_prev = tuple(float(cumprod[t - stride]) if t - stride >= 0 else final for t in timesteps)
    clip = float(scheduler.config.clip_sample_range) if scheduler.config.clip_sample else None
    return DdimPlan(timesteps, alphas, alphas_prev, scheduler.config.prediction_type, clip)


def split_prediction(output: torch.Tensor, x: torch.Tensor, alpha: float, prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The UNet's output as (predicted clean image, predicted noise) at level ``alpha``."""
    sa, sb = math.sqrt(alpha), math.sqrt(1.0 - alpha)
    if prediction_type == "epsilon":
        return (x - sb * output) / sa, output
    if prediction_type == "sample":
        return output, (x - sa * output) / sb
    if prediction_type == "v_prediction":
        return sa * x - sb * output, sa * output + sb * x
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def ddim_step(family, x: torch.Tensor, plan: DdimPlan, k: int, conditioning: Any = None) -> torch.Tensor:
    """Step k of the deterministic decode, in the family's model space: from level alphas[k] to alphas_prev[k]."""
    alpha, alpha_prev = plan.alphas[k], plan.alphas_prev[k]
    t = plan.timesteps[k]
    output = family.denoise(x, t) if conditioning is None else family.denoise(x, t, conditioning)  # None: the default
    clean, noise = split_prediction(output, x, alpha, plan.prediction_type)
    if plan.clip_range is not None:
        clean = clean.clamp(-plan.clip_range, plan.clip_range)
    return math.sqrt(alpha_prev) * clean + math.sqrt(1.0 - alpha_prev) * noise


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (N, 3, H, W) to uint8 (N, H, W, 3), rounded as diffusers' pipelines do."""
    scaled = (images.float() / 2 + 0.5).clamp(0, 1) * 255
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


def to_uint16(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] to a uint16 array (N, H, W, 3): the decode's full precision, for 16-bit PNG sequences."""
    scaled = (images.float() / 2 + 0.5).clamp(0, 1) * 65535
    return scaled.round().to(torch.int32).permute(0, 2, 3, 1).cpu().numpy().astype(np.uint16)  # torch lacks uint16 ops


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) to images in [-1, 1] (N, 3, H, W) float32."""
    return pixels.permute(0, 3, 1, 2).float() / 127.5 - 1.0
