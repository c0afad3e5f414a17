"""Image -> latent: DDIM inversion, fixed-point correction, optional gradient refinement.

Plain DDIM inversion approximates each step's noise by the prediction at the
less noisy end of the step; that error compounds over the steps. The
fixed-point iterations solve each step exactly instead: find x_in whose DDIM
step lands on x_out, by re-predicting the noise at the current guess of x_in.
They cost one UNet evaluation each and need no gradients. Gradient refinement
then optimises the whole decode against the image, with a prior that keeps
x_T noise-like (zero mean, unit variance, no spatial correlation), because a
latent that carries image structure edits badly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.metrics import LatentStats, latent_stats, psnr
from latent_studio.engine.ddim import (
    DdimPlan,
    from_uint8,
    make_plan,
    predict,
    split_prediction,
)
from latent_studio.engine.decode import decode, decode_differentiable
from latent_studio.engine.models import LoadedModel

Progress = Callable[[int, int], None]
DEFAULT_FIXED_POINT_ITERATIONS = 3
DEFAULT_REFINE_LR = 0.002
DEFAULT_PRIOR_WEIGHT = 0.01


@dataclass(frozen=True)
class Embedding:
    latent: np.ndarray  # float32 (C, H, W)
    reconstruction: np.ndarray  # uint8 (H, W, 3): decode(latent) with the same steps
    psnr: float  # of the reconstruction against the prepared image, dB
    stats: LatentStats
    steps: int
    fixed_point_iterations: int
    refine_iterations: int
    seconds: float


def embed(
    model: LoadedModel,
    pixels: np.ndarray,
    steps: int,
    *,
    fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
    refine_iterations: int = 0,
    refine_lr: float = DEFAULT_REFINE_LR,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Embedding:
    """Embed one prepared uint8 (H, W, 3) image; report PSNR of its reconstruction and the latent's statistics."""
    started = time.perf_counter()
    plan = make_plan(model.scheduler_config, steps)
    counter = _Counter(plan.steps * (1 + fixed_point_iterations) + refine_iterations + plan.steps, progress)
    target = from_uint8(torch.from_numpy(np.asarray(pixels, dtype=np.uint8))[None]).to(model.placement.device)
    latent = invert(model, target, plan, fixed_point_iterations, counter.tick, cancel)
    if refine_iterations:
        latent = refine(model, latent, target, plan, refine_iterations, refine_lr, prior_weight, counter.tick, cancel)
    latent_np = latent[0].float().cpu().numpy()
    reconstruction = decode(model, latent_np, steps, progress=lambda d, t: counter.tick(), cancel=cancel)[0]
    return Embedding(
        latent=latent_np,
        reconstruction=reconstruction,
        psnr=psnr(reconstruction, pixels),
        stats=latent_stats(latent_np),
        steps=steps,
        fixed_point_iterations=fixed_point_iterations,
        refine_iterations=refine_iterations,
        seconds=time.perf_counter() - started,
    )


def invert(
    model: LoadedModel,
    images: torch.Tensor,
    plan: DdimPlan,
    fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
    tick: Callable[[], None] | None = None,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Images in [-1, 1] (N, 3, H, W) to latents x_T, walking the decode's steps backwards."""
    x = images.float()
    with torch.inference_mode():
        for k in reversed(range(plan.steps)):
            x = _invert_step(model.unet, x, plan, k, fixed_point_iterations, tick, cancel)
    return x.clone()


def _invert_step(unet, x_out, plan: DdimPlan, k: int, iterations: int, tick, cancel) -> torch.Tensor:
    alpha, alpha_prev, timestep = plan.alphas[k], plan.alphas_prev[k], plan.timesteps[k]

    def noise_at(x):
        check(cancel)
        _, noise = split_prediction(predict(unet, x, timestep), x, alpha, plan.prediction_type)
        if tick:
            tick()
        return noise

    def solve(noise):  # the x_in whose DDIM step with this noise lands exactly on x_out
        clean = (x_out - math.sqrt(1.0 - alpha_prev) * noise) / math.sqrt(alpha_prev)
        return math.sqrt(alpha) * clean + math.sqrt(1.0 - alpha) * noise

    x_in = solve(noise_at(x_out))  # plain DDIM inversion
    residuals = []
    best, best_residual = x_in, torch.full((x_in.shape[0],), float("inf"), device=x_in.device)
    for _ in range(iterations):
        noise = noise_at(x_in)
        residual = (solve(noise) - x_in).flatten(1).norm(dim=1)
        better = residual < best_residual
        best = torch.where(better[:, None, None, None], x_in, best)
        best_residual = torch.where(better, residual, best_residual)
        residuals.append(residual)
        x_in = solve(noise)
    if iterations and bool((residuals[-1] > residuals[0]).any()):
        return best  # the iteration diverged for some image: keep the best checked guess
    return x_in


def refine(
    model: LoadedModel,
    latent: torch.Tensor,
    target: torch.Tensor,
    plan: DdimPlan,
    iterations: int,
    lr: float = DEFAULT_REFINE_LR,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    tick: Callable[[], None] | None = None,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Adam on x_T through the full decode; returns the best latent seen (lowest loss)."""
    variable = latent.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([variable], lr=lr)
    best, best_loss = latent.detach().clone(), float("inf")
    for _ in range(iterations):
        check(cancel)
        optimiser.zero_grad(set_to_none=True)
        with torch.enable_grad():
            # Compare what the user will see: pixels outside [-1, 1] are clamped when saved.
            decoded = decode_differentiable(model, variable, plan).clamp(-1.0, 1.0)
            loss = torch.mean((decoded - target) ** 2) + prior_weight * noise_prior(variable)
            loss.backward()
        if loss.item() < best_loss:
            best_loss, best = loss.item(), variable.detach().clone()
        optimiser.step()
        if tick:
            tick()
    return best


def noise_prior(latent: torch.Tensor) -> torch.Tensor:
    """Penalty for a latent that does not look like N(0, 1) noise: mean, variance, lag-1 correlation."""
    x = latent.flatten(1)
    mean = x.mean(dim=1)
    var = x.var(dim=1, unbiased=False)
    centred = latent - mean[:, None, None, None]
    denom = var.clamp_min(1e-8)
    horizontal = (centred[..., :, 1:] * centred[..., :, :-1]).flatten(1).mean(dim=1) / denom
    vertical = (centred[..., 1:, :] * centred[..., :-1, :]).flatten(1).mean(dim=1) / denom
    return (mean**2 + (var - 1.0) ** 2 + horizontal**2 + vertical**2).mean()


class _Counter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def tick(self) -> None:
        self.done = min(self.done + 1, self.total)
        if self.progress:
            self.progress(self.done, self.total)
