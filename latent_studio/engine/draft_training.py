"""Training the draft decoder on pairs the model makes itself (seed noise -> its DDIM picture at the final steps).

The decoder starts as a copy of the model's UNet read at the plan's first
level (where its clean-image estimate is the one-step DDIM picture, 8 dB
against 50 steps on the bundled model) and is fine-tuned by mean squared error
until that estimate is the final picture. Pairs and the training loop are the
embedding network's, turned round; the time limit lets a run fit a lease.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.metrics import psnr
from latent_studio.engine.companions import save_companion, start_from_weights
from latent_studio.engine.ddim import from_uint8, make_plan
from latent_studio.engine.decode import decode_draft
from latent_studio.engine.draft_decoder import DRAFT_INFO, DraftDecoder, draft_folder
from latent_studio.engine.embedder_training import Pairs, Progress, fit_regression, training_info
from latent_studio.engine.models import LoadedModel


@dataclass(frozen=True)
class DraftRecipe:
    pairs: int = 4096  # sampled (x_T, picture) pairs
    steps: int = 50  # the DDIM steps whose pictures it learns
    training_steps: int = 3000
    batch: int = 64
    learning_rate: float = 1e-4  # a fine-tune of the model's own weights
    time_limit: float | None = None  # seconds of training; the schedule stretches over whichever ends first
    held_out: int = 16  # pairs kept back to report the draft's PSNR against the final picture
    seed: int = 0
    init_from: str | None = None  # a model folder whose draft/ starts the training instead of the model's UNet


def new_draft_decoder(model: LoadedModel, steps: int) -> DraftDecoder:
    """A trainable float32 copy of the model's UNet, read at the first level of a ``steps``-step plan."""
    plan = make_plan(model.scheduler_config, steps)
    unet = copy.deepcopy(model.family.denoiser)
    torch.nn.Module.to(unet, dtype=torch.float32).requires_grad_(True)
    # a v model's copy starts as its own one-step estimate; others learn the picture directly (an epsilon
    # estimate at the first level divides by sqrt(alpha), about 0.03: unstable to train through)
    reading = "v_prediction" if plan.prediction_type == "v_prediction" else "sample"
    return DraftDecoder(unet, model.content_hash, plan.timesteps[0], plan.alphas[0], reading, steps, {})


def train_draft_decoder(model: LoadedModel, recipe: DraftRecipe, pairs: Pairs, *, progress: Progress | None = None,
                        cancel: CancelToken | None = None) -> DraftDecoder:
    """Fit on all but ``recipe.held_out`` pairs; the info reports the held-out PSNR against the final pictures."""
    torch.manual_seed(recipe.seed)
    train_count = len(pairs.images) - recipe.held_out
    if train_count < recipe.batch:
        raise ValueError(f"{len(pairs.images)} pairs leave fewer than one batch after {recipe.held_out} held out")
    draft = new_draft_decoder(model, recipe.steps)
    if recipe.init_from:
        start_from_weights(draft_folder(Path(recipe.init_from)), draft.unet, name="draft decoder")
    latents = torch.from_numpy(pairs.latents[:train_count])
    pictures = from_uint8(torch.from_numpy(pairs.images[:train_count]))
    losses, seconds = fit_regression(draft.unet, draft.clean, latents, pictures, recipe,
                                     progress=progress, cancel=cancel)
    held = pairs.images[train_count:]
    scores = [psnr(a, b) for a, b in zip(decode_draft(model, draft, pairs.latents[train_count:]), held, strict=True)]
    draft.info = training_info(model, recipe, losses, scores, seconds, timestep=draft.timestep, alpha=draft.alpha,
                               prediction_type=draft.prediction_type)
    return draft


def save_draft_decoder(draft: DraftDecoder, model_folder) -> None:
    """Write ``draft/`` beside the model."""
    save_companion(draft_folder(model_folder), draft.unet, draft.info, DRAFT_INFO)
