"""Training the one-pass embedding network on pairs the model makes itself.

A pair is (image, x_T): seed noise decoded by the model's own deterministic
DDIM gives an image whose exact latent is known. Images the model did not
make can be added with their fixed-point inversions (for the demo model:
renders, the images artists start from), so the network also learns the
latents of real inputs. The network learns x_T from the image by mean
squared error; when the model has a draft decoder, also by the error of the
draft decoder's one-pass picture of its x_T against the image (the picture
loss: it weighs each latent component by how much the picture depends on it,
which the x_T error alone does not; on toy-heads, fine-tuned for 20 CPU
minutes, it lifted the reconstruction of 100 held-out renders from 24.65 to
28.72 dB). It is written beside the model in ``embedder/``. Training
can be given a time limit instead of a step count, so a run fits a lease.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from latent_studio import __version__
from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.metrics import psnr
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.ddim import from_uint8, make_plan
from latent_studio.engine.decode import decode
from latent_studio.engine.companions import save_companion, start_from_weights
from latent_studio.engine.embedder import (
    EMBEDDER_INFO,
    DEFAULT_CHANNELS,
    EmbedderNetwork,
    build_embedder_unet,
    embedder_folder,
)
from latent_studio.engine.inversion import DEFAULT_FIXED_POINT_ITERATIONS, invert
from latent_studio.engine.models import LoadedModel

Progress = Callable[[str, int, int], None]  # phase, done, total
PAIR_SEED_BASE = 10_000_000  # seeds for training pairs, far from the seeds users and examples use


@dataclass(frozen=True)
class EmbedderRecipe:
    pairs: int = 4096  # sampled (image, x_T) pairs
    steps: int = 50  # DDIM steps of the pairs: the network predicts the x_T of this many steps
    training_steps: int = 3000
    batch: int = 32
    learning_rate: float = 5e-4
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    time_limit: float | None = None  # seconds of training; the schedule stretches over whichever ends first
    held_out: int = 16  # pairs kept back to report the network's reconstruction PSNR
    seed: int = 0
    init_from: str | None = None  # a model folder whose embedder/ starts the training (same widths)
    picture_weight: float = 10.0  # weight of the picture loss through the draft decoder; 0 (or no draft): x_T alone


@dataclass(frozen=True)
class Pairs:
    images: np.ndarray  # uint8 (N, H, W, 3)
    latents: np.ndarray  # float32 (N, C, H, W)


    def join(self, other: "Pairs") -> "Pairs":
        return Pairs(np.concatenate([self.images, other.images]), np.concatenate([self.latents, other.latents]))

    def shuffled(self, seed: int) -> "Pairs":
        order = np.random.default_rng(seed).permutation(len(self.images))
        return Pairs(self.images[order], self.latents[order])


def sample_pairs(model: LoadedModel, count: int, steps: int, *, first_seed: int = PAIR_SEED_BASE, batch: int = 32,
                 progress: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None) -> Pairs:
    """``count`` seeds decoded by the model: images with their exact latents."""
    latents = np.stack([noise_latent(first_seed + i, model.latent_shape) for i in range(count)])
    images = decode(model, latents, steps, batch_size=batch, progress=progress, cancel=cancel)
    return Pairs(images, latents)


def inversion_pairs(model: LoadedModel, images: np.ndarray, steps: int, *, batch: int = 32,
                    progress: Callable[[int, int], None] | None = None, cancel: CancelToken | None = None) -> Pairs:
    """Images the model did not make, with their fixed-point DDIM inversions as targets."""
    plan = make_plan(model.scheduler_config, steps)
    per_image = plan.steps * (1 + DEFAULT_FIXED_POINT_ITERATIONS)
    total, done = len(images) * per_image, 0
    latents = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]

        def tick(count: int = 1, size: int = len(chunk)) -> None:
            nonlocal done
            done += count * size
            if progress:
                progress(min(done, total), total)

        pixels = from_uint8(torch.from_numpy(np.ascontiguousarray(chunk))).to(model.placement.device)
        latents.append(invert(model, pixels, plan, tick=tick, cancel=cancel).float().cpu().numpy())
    return Pairs(np.asarray(images, np.uint8), np.concatenate(latents).astype(np.float32))


def save_pairs(pairs: Pairs, path: Path, model_hash: str, steps: int) -> None:
    """Cache pairs (they cost most of a short run) so a second run on the same model skips them."""
    buffer = io.BytesIO()
    np.savez(buffer, images=pairs.images, latents=pairs.latents, model_hash=model_hash, steps=steps)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_pairs(path: Path, model_hash: str, steps: int) -> Pairs | None:
    """Cached pairs, or None when there are none for this model and number of steps."""
    try:
        with np.load(path) as data:
            if str(data["model_hash"]) != model_hash or int(data["steps"]) != steps:
                return None
            return Pairs(data["images"], data["latents"])
    except (OSError, ValueError, KeyError):
        return None


def fit_regression(module: torch.nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                   targets: torch.Tensor, recipe, *, progress: Progress | None = None,
                   cancel: CancelToken | None = None,
                   extra_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                   ) -> tuple[list[float], float]:
    """Fit ``forward(inputs[i]) ~ targets[i]`` by mean squared error, plus ``extra_loss(inputs, outputs)`` of each
    batch when given: AdamW, cosine learning rate over ``recipe.training_steps`` or ``recipe.time_limit`` seconds,
    whichever ends first. Returns (losses, seconds).

    ``recipe`` names training_steps, time_limit, batch, learning_rate and seed (both networks' recipes do).
    """
    device = next(module.parameters()).device
    module.train()
    optimiser = torch.optim.AdamW(module.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(recipe.seed)
    started, losses = time.perf_counter(), []
    for step in range(recipe.training_steps):
        check(cancel)
        done = step / recipe.training_steps
        if recipe.time_limit:
            done = max(done, (time.perf_counter() - started) / recipe.time_limit)
        if done >= 1.0:
            break
        index = torch.randint(0, len(inputs), (recipe.batch,), generator=generator)
        lr = recipe.learning_rate * 0.5 * (1 + np.cos(np.pi * done))
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = inputs[index].to(device)
        outputs = forward(batch)
        loss = torch.nn.functional.mse_loss(outputs, targets[index].to(device))
        if extra_loss is not None:
            loss = loss + extra_loss(batch, outputs)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimiser.step()
        losses.append(loss.item())
        if progress:
            progress("training", step + 1, recipe.training_steps)
    module.eval().requires_grad_(False)
    return losses, time.perf_counter() - started


def train_embedder(model: LoadedModel, recipe: EmbedderRecipe, pairs: Pairs, *, progress: Progress | None = None,
                   cancel: CancelToken | None = None,
                   pictures: np.ndarray | None = None) -> tuple[EmbedderNetwork, dict]:
    """Fit the network on all but ``recipe.held_out`` pairs; report loss and held-out reconstruction PSNR.
    ``pictures`` (uint8 images without latents) feed the picture loss instead of the pairs' images."""
    torch.manual_seed(recipe.seed)
    channels = model.latent_shape[0]
    unet = build_embedder_unet(model.image_size[0], channels, recipe.channels)
    if recipe.init_from:
        start_from_weights(embedder_folder(Path(recipe.init_from)), unet, name="embedding network")
    device = model.placement.device
    unet.to(device)
    train_count = len(pairs.images) - recipe.held_out
    if train_count < recipe.batch:
        raise ValueError(f"{len(pairs.images)} pairs leave fewer than one batch after {recipe.held_out} held out")
    images = from_uint8(torch.from_numpy(pairs.images[:train_count]))
    latents = torch.from_numpy(pairs.latents[:train_count])
    zero = torch.zeros(recipe.batch, dtype=torch.long, device=device)
    forward = lambda x: unet(x, zero[: len(x)]).sample  # noqa: E731
    judged_images = None if pictures is None else from_uint8(torch.from_numpy(pictures))
    picture_loss = draft_picture_loss(model, recipe.picture_weight, forward, judged_images, recipe.seed)
    losses, seconds = fit_regression(unet, forward, images, latents, recipe,
                                     progress=progress, cancel=cancel, extra_loss=picture_loss)
    network = EmbedderNetwork(unet, model.content_hash, recipe.steps, {})
    held_images = pairs.images[train_count:]
    reconstructions = decode(model, network.latents(from_uint8(torch.from_numpy(held_images))).cpu().numpy(),
                             recipe.steps, cancel=cancel)
    scores = [psnr(a, b) for a, b in zip(reconstructions, held_images, strict=True)]
    judged = "none (x_T error alone)"
    if picture_loss is not None:
        judged = "the draft decoder's picture" + (f", of {len(pictures)} other images" if pictures is not None else "")
    network.info = training_info(model, recipe, losses, scores, seconds, picture_loss=judged)
    return network, network.info


def uses_picture_loss(model: LoadedModel, weight: float) -> bool:
    """Whether training judges the draft decoder's picture: it needs a weight above 0 and the model's draft decoder."""
    return weight > 0 and model.draft is not None


def draft_picture_loss(model: LoadedModel, weight: float, forward: Callable[[torch.Tensor], torch.Tensor],
                       pictures: torch.Tensor | None = None, seed: int = 0,
                       ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``weight`` x the squared error of the draft decoder's picture of predicted latents against their images;
    None when the weight is 0 or the model has no draft decoder. With ``pictures`` (images in [-1, 1] that need no
    latent, e.g. fresh renders), each step judges a batch of those, predicted by ``forward``, instead of the
    batch the latent error saw: far more images than there are inverted pairs."""
    if not uses_picture_loss(model, weight):
        return None
    draft = model.draft
    draft.unet.requires_grad_(False)  # a fixed judge: only the embedding network learns
    generator = torch.Generator().manual_seed(seed + 1)

    def picture_loss(images: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        if pictures is not None:
            images = pictures[torch.randint(0, len(pictures), (len(images),), generator=generator)].to(images.device)
            predicted = forward(images)
        drafted = model.family.to_images(draft.clean(predicted))
        return weight * torch.nn.functional.mse_loss(drafted, images.to(drafted.device))

    return picture_loss


def training_info(model: LoadedModel, recipe, losses: list[float], scores: list[float], seconds: float,
                  **extra) -> dict:
    """What a companion network's info file records: the model it serves, how it was trained, how well it does."""
    return {
        "model_hash": model.content_hash,
        "steps": recipe.steps,
        **extra,
        "recipe": asdict(recipe),
        "final_loss": float(np.mean(losses[-100:])),
        "training_steps_run": len(losses),
        "held_out_psnr_mean": float(np.mean(scores)),
        "held_out_psnr_min": float(np.min(scores)),
        "training_seconds": round(seconds, 1),
        "app_version": __version__,
    }


def save_embedder(network: EmbedderNetwork, model_folder: Path) -> Path:
    """Write ``embedder/`` beside the model."""
    return save_companion(embedder_folder(model_folder), network.unet, network.info, EMBEDDER_INFO)
