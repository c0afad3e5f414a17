"""Image -> latent, the one way the app, the CLI and discovery ask for it: the Embedder seam.

An ``Embedder`` turns a batch of images into latents x_T. Two exist:
fixed-point DDIM inversion (``engine.inversion``; with clamp matching where
the model clamps, kept only where it reconstructs better) and the model's
one-pass embedding network (``engine.embedder``, Asperti et al. 2023). A
hybrid (the network's latent refined by a few inversion sweeps) was measured
and never beat inversion on the bundled model (benchmarks/bench_embedding.py),
so it is not offered; it would be a third class here.

``embed`` embeds one image the way a user asks for it: through an embedder,
optionally refined by gradient descent, then decoded again for the
reconstruction and its PSNR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.errors import UserError
from latent_studio.core.metrics import LatentStats, latent_stats, psnr
from latent_studio.engine.ddim import from_uint8, make_plan, to_uint8
from latent_studio.engine.decode import decode
from latent_studio.engine.inversion import (
    DEFAULT_CLAMP_ITERATIONS,
    DEFAULT_FIXED_POINT_ITERATIONS,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_REFINE_LR,
    invert,
    matching_iterations,
    refine,
)
from latent_studio.engine.models import LoadedModel

Progress = Callable[[int, int], None]
Tick = Callable[..., None]
EMBED_MODES = ("auto", "inversion", "network")
CLAMP_TIME_FACTOR = 8.0  # clamp matching may take at most this many times the plain inversion's time (it needs ~5x in-domain)


@dataclass(frozen=True)
class EmbedderOutput:
    latents: torch.Tensor  # float32 (N, C, H, W)
    clamp_matched: torch.Tensor  # bool (N,): clamp matching ran and its latent reconstructed better
    reconstructions: np.ndarray | None = None  # uint8 (N, H, W, 3) decodes of the latents, when asked for


class Embedder(Protocol):
    mode: str  # what produced the latents: "inversion" or "network"

    def calls(self, steps: int, reconstruct: bool = False) -> int:
        """Progress ticks one ``latents`` call makes (whatever the batch size)."""

    def latents(self, images: torch.Tensor, steps: int, tick: Tick | None = None,
                cancel: CancelToken | None = None, reconstruct: bool = False) -> EmbedderOutput:
        """Images in [-1, 1] (N, 3, H, W) on the model's device to latents (and their decodes with ``reconstruct``)."""


class InversionEmbedder:
    """Fixed-point DDIM inversion; where the model clamps, clamp matching too, kept per image only if it helps."""

    mode = "inversion"

    def __init__(self, model: LoadedModel, fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
                 clamp_iterations: int = DEFAULT_CLAMP_ITERATIONS) -> None:
        self.model = model
        self.fixed_point_iterations = fixed_point_iterations
        self.clamp_iterations = clamp_iterations

    def calls(self, steps: int, reconstruct: bool = False) -> int:
        plan = make_plan(self.model.scheduler_config, steps)
        inversion = plan.steps * (1 + self.fixed_point_iterations)
        matching = matching_iterations(plan, self.clamp_iterations)
        if not matching:
            return inversion + (plan.steps if reconstruct else 0)
        return 2 * inversion + plan.steps * matching + 2 * plan.steps  # both decoded to keep the better

    def latents(self, images, steps, tick=None, cancel=None, reconstruct=False) -> EmbedderOutput:
        started = time.perf_counter()
        plan = make_plan(self.model.scheduler_config, steps)
        plain = invert(self.model, images, plan, self.fixed_point_iterations, tick, cancel, clamp_iterations=0)
        unmatched = torch.zeros(len(images), dtype=torch.bool, device=plain.device)
        if not matching_iterations(plan, self.clamp_iterations):
            return EmbedderOutput(plain, unmatched, _decode(self.model, plain, steps, tick, cancel) if reconstruct else None)
        budget = CLAMP_TIME_FACTOR * (time.perf_counter() - started)
        matched = invert(self.model, images, plan, self.fixed_point_iterations, tick, cancel,
                         clamp_iterations=self.clamp_iterations, clamp_seconds=budget)
        plain_images, matched_images = (_decode(self.model, x, steps, tick, cancel) for x in (plain, matched))
        target = to_uint8(images).numpy()
        better = np.array([psnr(m, t) > psnr(p, t) for p, m, t in zip(plain_images, matched_images, target)])
        chosen = torch.from_numpy(better).to(plain.device)
        return EmbedderOutput(torch.where(chosen[:, None, None, None], matched, plain), chosen,
                              np.where(better[:, None, None, None], matched_images, plain_images))


class NetworkEmbedder:
    """One pass of the model's embedding network."""

    mode = "network"

    def __init__(self, model: LoadedModel) -> None:
        self.model, self.network = model, model.embedder

    def calls(self, steps: int, reconstruct: bool = False) -> int:
        return 1 + (steps if reconstruct else 0)

    def latents(self, images, steps, tick=None, cancel=None, reconstruct=False) -> EmbedderOutput:
        check(cancel)
        latents = self.network.latents(images)
        if tick:
            tick()
        return EmbedderOutput(latents, torch.zeros(len(images), dtype=torch.bool, device=latents.device),
                              _decode(self.model, latents, steps, tick, cancel) if reconstruct else None)


def _decode(model: LoadedModel, latents: torch.Tensor, steps: int, tick: Tick | None, cancel) -> np.ndarray:
    """uint8 decodes of a batch of latents, one tick per step."""
    return decode(model, latents.float().cpu().numpy(), steps, batch_size=len(latents),
                  progress=(lambda done, total: tick()) if tick else None, cancel=cancel)


def make_embedder(model: LoadedModel, mode: str = "auto", *,
                  fixed_point_iterations: int = DEFAULT_FIXED_POINT_ITERATIONS,
                  clamp_iterations: int = DEFAULT_CLAMP_ITERATIONS) -> Embedder:
    """The embedder for ``mode``; a network mode without a network is a plain sentence, not a crash."""
    if mode not in EMBED_MODES:
        raise UserError(f"Unknown embedding mode {mode!r}: use one of {', '.join(EMBED_MODES)}.")
    if mode == "network":
        if model.embedder is None:
            raise UserError(f"Model '{model.source.spec}' has no embedding network; train one with "
                            f"`latent-studio train-embedder --model {model.source.spec}`, or use --mode inversion.")
        return NetworkEmbedder(model)
    return InversionEmbedder(model, fixed_point_iterations, clamp_iterations)  # auto: inversion, the better fit today


@dataclass(frozen=True)
class Embedding:
    mode: str  # "inversion" or "network": what produced the latent
    latent: np.ndarray  # float32 (C, H, W)
    reconstruction: np.ndarray  # uint8 (H, W, 3): decode(latent) with the same steps
    psnr: float  # of the reconstruction against the prepared image, dB
    stats: LatentStats
    steps: int
    fixed_point_iterations: int
    clamp_iterations: int  # 0 when clamp matching did not run or its latent reconstructed worse
    refine_iterations: int
    seconds: float


def embed(
    model: LoadedModel,
    pixels: np.ndarray,
    steps: int,
    *,
    mode: str = "auto",
    fixed_point_iterations: int | None = None,
    clamp_iterations: int = DEFAULT_CLAMP_ITERATIONS,
    refine_iterations: int = 0,
    refine_lr: float = DEFAULT_REFINE_LR,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Embedding:
    """Embed one prepared uint8 (H, W, 3) image; report PSNR of its reconstruction and the latent's statistics."""
    if fixed_point_iterations is None:
        fixed_point_iterations = DEFAULT_FIXED_POINT_ITERATIONS
    embedder = make_embedder(model, mode, fixed_point_iterations=fixed_point_iterations,
                             clamp_iterations=clamp_iterations)
    started = time.perf_counter()
    plan = make_plan(model.scheduler_config, steps)
    decode_again = refine_iterations > 0  # else the embedder's own decode is the reconstruction
    counter = _Counter(embedder.calls(steps, not decode_again) + refine_iterations + plan.steps * decode_again,
                       progress)
    target = from_uint8(torch.from_numpy(np.asarray(pixels, dtype=np.uint8))[None]).to(model.placement.device)
    output = embedder.latents(target, steps, counter.tick, cancel, reconstruct=not decode_again)
    latent = output.latents
    if decode_again:
        latent = refine(model, latent, target, plan, refine_iterations, refine_lr, prior_weight, counter.tick, cancel)
    latent_np = latent[0].float().cpu().numpy()
    if decode_again:
        reconstruction = decode(model, latent_np, steps, progress=lambda d, t: counter.tick(), cancel=cancel)[0]
    else:
        reconstruction = output.reconstructions[0]
    inverted = embedder.mode == "inversion"
    return Embedding(
        mode=embedder.mode,
        latent=latent_np,
        reconstruction=reconstruction,
        psnr=psnr(reconstruction, pixels),
        stats=latent_stats(latent_np),
        steps=steps,
        fixed_point_iterations=fixed_point_iterations if inverted else 0,
        clamp_iterations=clamp_iterations if bool(output.clamp_matched[0]) else 0,
        refine_iterations=refine_iterations,
        seconds=time.perf_counter() - started,
    )


class _Counter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def tick(self, count: int = 1) -> None:
        self.done = min(self.done + count, self.total)
        if self.progress:
            self.progress(self.done, self.total)
