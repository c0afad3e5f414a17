"""Image -> latent: DDIM inversion, fixed-point correction, clamp matching, optional gradient refinement.

Plain DDIM inversion approximates each step's noise by the prediction at the
less noisy end of the step; that error compounds over the steps. The
fixed-point iterations solve each step exactly instead: find x_in whose DDIM
step lands on x_out, by re-predicting the noise at the current guess of x_in.
They cost one UNet evaluation each and need no gradients. Each step starts
from the noise extrapolated from the steps already solved (the noise changes
smoothly along the path), and an image stops iterating a step once an
iteration barely moves it: about 1.8 UNet calls per step instead of 4.

A scheduler with ``clip_sample`` clamps the predicted clean image during
decoding. The fixed-point solution ignores the clamp, and in the noisiest
steps it predicts clean pixels far outside [-1, 1]: decoding then clamps them
and lands somewhere else (on the bundled model, 23 dB instead of 54 dB at 50
steps). Clamp matching fixes those steps only: a few Adam iterations on x_in
against the real, clamped step. It can also make things worse (an image far
outside the model's domain: 7.9 dB with it, 14.3 dB without, on a photo and
toy-heads v1), so the inversion embedder (``engine.embedding``) runs plain
fixed-point inversion first, gives matching a time budget of eight times
that, and keeps whichever latent reconstructs better. Gradient refinement
then optimises the whole decode against the image, with a prior that keeps
x_T noise-like (zero mean, unit variance, no spatial correlation), because a
latent that carries image structure edits badly.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.engine.ddim import DdimPlan, ddim_step, split_prediction
from latent_studio.engine.decode import decode_differentiable
from latent_studio.engine.models import LoadedModel

Progress = Callable[[int, int], None]
DEFAULT_FIXED_POINT_ITERATIONS = 3  # at most, per step
FIXED_POINT_TOLERANCE = 1e-3  # an image stops iterating a step once an iteration moves no pixel by this much (3e-3: min PSNR 49 dB)
DEFAULT_REFINE_LR = 0.002
DEFAULT_PRIOR_WEIGHT = 0.01
DEFAULT_CLAMP_ITERATIONS = 20
CLAMP_LR = 0.02
CLAMPED_FRACTION = 0.001  # steps where fewer predicted pixels leave the clip range are left as solved


def invert(model: LoadedModel, images: torch.Tensor, plan: DdimPlan, *args, **kwargs) -> torch.Tensor:
    """Images in [-1, 1] (N, 3, H, W) to latents x_T (in the family's model space), walking the decode backwards:
    ``invert_model_space`` from the family's encoding of the images (its arguments after ``plan``)."""
    return invert_model_space(model, model.family.to_model_space(images.float()), plan, *args, **kwargs)


def invert_model_space(
    model: LoadedModel,
    x0: torch.Tensor,
    plan: DdimPlan,
    fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
    tick: Callable[[], None] | None = None,
    cancel: CancelToken | None = None,
    *,
    clamp_iterations: int = DEFAULT_CLAMP_ITERATIONS,
    clamp_seconds: float | None = None,
) -> torch.Tensor:
    """A clean model-space x_0 (a pixel family's image, a latent family's encoded picture) to its x_T.

    ``clamp_seconds`` bounds the time clamp matching may take; once it is spent,
    the remaining steps are solved by fixed-point iteration alone.
    """
    x = x0
    deadline = None if clamp_seconds is None else time.perf_counter() + clamp_seconds
    matching = matching_iterations(plan, clamp_iterations)
    noises: list[torch.Tensor] = []  # the noise each solved step settled on, noisiest last
    for k in reversed(range(plan.steps)):
        with torch.no_grad():
            x_in, noise = _invert_step(model.family, x, plan, k, fixed_point_iterations, tick, cancel,
                                       guess=_extrapolated(noises) if fixed_point_iterations else None)
        noises.append(noise)
        if matching and (deadline is None or time.perf_counter() < deadline):
            x_in = match_clamped_step(model.family, x_in, x, plan, k, clamp_iterations, tick, cancel)
        elif matching and tick:
            tick(clamp_iterations)  # the budgeted work, so progress stays even
        x = x_in
    return x.clone()


def _extrapolated(noises: list[torch.Tensor]) -> torch.Tensor | None:
    """The next step's noise guessed from the steps already solved (None: predict it at x_out).

    Along a DDIM path the predicted noise changes smoothly from step to step, so
    a linear extrapolation of the last two is a far better start than the
    noise at the less noisy end (on toy-heads 66.6 / 56.1 dB mean / min at
    0.57x the time, against 55.6 / 52.6 dB; benchmarks/bench_embedding.py).
    It is only a start for fixed-point iterations: uncorrected, the guesses
    drift (11 dB), so with no iterations the inversion is plain DDIM inversion.
    """
    if not noises:
        return None
    if len(noises) == 1:
        return noises[-1]
    return 2.0 * noises[-1] - noises[-2]


def _invert_step(family, x_out, plan: DdimPlan, k: int, iterations: int, tick, cancel, *,
                 guess: torch.Tensor | None = None,
                 tolerance: float = FIXED_POINT_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve step k backwards: the x_in whose DDIM step lands on x_out, and the noise it was solved with.

    Starts from ``guess`` (or plain DDIM inversion, one UNet call), then runs
    up to ``iterations`` fixed-point iterations; an image stops iterating once
    an iteration moves it by less than ``tolerance`` (per image, so batching
    does not change a result).
    """
    alpha, alpha_prev, timestep = plan.alphas[k], plan.alphas_prev[k], plan.timesteps[k]

    def noise_at(x):
        check(cancel)
        _, noise = split_prediction(family.denoise(x, timestep), x, alpha, plan.prediction_type)
        if tick:
            tick()
        return noise

    def solve(noise):  # the x_in whose DDIM step with this noise lands exactly on x_out
        clean = (x_out - math.sqrt(1.0 - alpha_prev) * noise) / math.sqrt(alpha_prev)
        return math.sqrt(alpha) * clean + math.sqrt(1.0 - alpha) * noise

    noise = noise_at(x_out) if guess is None else guess
    if guess is not None and tick:
        tick()  # the call the guess saved, so progress stays even
    x_in = solve(noise)
    best, best_noise = x_in, noise
    best_residual = torch.full((x_in.shape[0],), float("inf"), device=x_in.device)
    first_residual = last_residual = None
    active = torch.ones(x_in.shape[0], dtype=torch.bool, device=x_in.device)
    for done in range(iterations):
        new_noise = noise_at(x_in)
        solved = solve(new_noise)
        change = solved - x_in
        residual = change.flatten(1).norm(dim=1)
        first_residual = residual if first_residual is None else first_residual
        last_residual = residual if last_residual is None else torch.where(active, residual, last_residual)
        better = active & (residual < best_residual)
        best = torch.where(better[:, None, None, None], x_in, best)
        best_noise = torch.where(better[:, None, None, None], noise, best_noise)
        best_residual = torch.where(better, residual, best_residual)
        moving = active[:, None, None, None]
        x_in, noise = torch.where(moving, solved, x_in), torch.where(moving, new_noise, noise)
        active = active & (change.abs().flatten(1).amax(dim=1) >= tolerance)
        if not bool(active.any()):
            if tick and done + 1 < iterations:
                tick(iterations - done - 1)  # the iterations not needed, so progress stays even
            break
    if first_residual is not None:
        diverged = (last_residual > first_residual)[:, None, None, None]  # keep that image's best checked guess
        x_in, noise = torch.where(diverged, best, x_in), torch.where(diverged, best_noise, noise)
    return x_in, noise


def matching_iterations(plan: DdimPlan, clamp_iterations: int) -> int:
    """Clamp matching runs only where the decode clamps; a scheduler without clip_sample gets none."""
    return clamp_iterations if plan.clip_range is not None else 0


def clamped_fraction(family, x: torch.Tensor, plan: DdimPlan, k: int) -> float:
    """Share of the predicted clean pixels at step k that the decode's clip would change."""
    with torch.no_grad():
        clean, _ = split_prediction(family.denoise(x, plan.timesteps[k]), x, plan.alphas[k], plan.prediction_type)
    return float((clean.abs() > plan.clip_range).float().mean())


def match_clamped_step(family, x_in: torch.Tensor, x_out: torch.Tensor, plan: DdimPlan, k: int, iterations: int,
                       tick: Callable[..., None] | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
    """Adam on x_in so that the clamped DDIM step k lands on x_out; x_in unchanged where the clamp is idle.

    Returns the best guess checked (the solved x_in when nothing improves it).
    """
    if clamped_fraction(family, x_in, plan, k) < CLAMPED_FRACTION:
        if tick:
            tick(iterations)  # the work this step was budgeted, so progress stays even
        return x_in
    variable = x_in.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([variable], lr=CLAMP_LR)
    best, best_loss = x_in, torch.full((len(x_in),), float("inf"), device=x_in.device)
    for iteration in range(iterations + 1):  # the last pass only checks the final guess
        check(cancel)
        with torch.enable_grad():
            loss = ((ddim_step(family, variable, plan, k) - x_out) ** 2).flatten(1).mean(dim=1)
            (variable.grad,) = torch.autograd.grad(loss.sum(), [variable])
        loss = loss.detach()
        best = torch.where((loss < best_loss)[:, None, None, None], variable.detach(), best)
        best_loss = torch.minimum(best_loss, loss)
        if iteration == iterations:
            break
        optimiser.step()
        if tick:
            tick()
    return best.detach()


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
