"""The draft decoder: one pass from x_T to (nearly) the picture that DDIM gives at its final steps.

The mirror of the embedding network, and the canvas's draft while a slider is
dragged or the timeline plays. A few DDIM steps give noise or a blur (the
bundled model: 15.5 dB at 2 steps, 18.7 at 4 against 50), so a model can carry
a distilled one-pass decoder (Luhman & Luhman, "Knowledge distillation in
iterative generative models", 2021): a copy of the model's own UNet, started
from the model's weights and fine-tuned so that its clean-image estimate at the
plan's first level is the 50-step picture. It costs one UNet evaluation, like
one DDIM step. It lives beside the model in ``draft/`` (see
``engine.companions``; ``draft.json`` also names the timestep, the level and
the steps it imitates) and is loaded with it when present.

A draft is asked for by the number of steps ``DRAFT_PASS`` (0) wherever steps
are given (``decode``, ``render_frames``, the frame cache's key), so a draft is
cached apart from every DDIM result and never taken for a final frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DModel

from latent_studio.core.errors import ModelError
from latent_studio.engine.companions import load_companion

DRAFT_PASS = 0  # "steps" meaning one pass of the draft decoder
DRAFT_FOLDER = "draft"
DRAFT_INFO = "draft.json"
READINGS = ("v_prediction", "sample")


@dataclass
class DraftDecoder:
    """A fine-tuned copy of the model's UNet, read at one level: x_T to the clean picture in the model's space."""

    unet: UNet2DModel
    model_hash: str  # content hash of the diffusion model it imitates
    timestep: int  # the timestep it is evaluated at (the first of the imitated plan)
    alpha: float  # the cumulative alpha of that level
    prediction_type: str  # how its output is read: v_prediction (a v model's copy) or sample (the picture itself)
    steps: int  # the DDIM steps whose result it imitates
    info: dict

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """Latents (N, C, H, W) to clean samples in the model's space, float32; differentiable (training uses it)."""
        parameter = next(self.unet.parameters())
        timesteps = torch.full((x.shape[0],), self.timestep, dtype=torch.long, device=parameter.device)
        x = x.to(parameter.device, parameter.dtype)
        output = self.unet(x, timesteps).sample
        if self.prediction_type == "v_prediction":
            return (math.sqrt(self.alpha) * x - math.sqrt(1.0 - self.alpha) * output).float()
        return output.float()


def draft_folder(model_folder: Path) -> Path:
    return Path(model_folder) / DRAFT_FOLDER


def load_draft_decoder(model_folder: Path, model_hash: str, device: torch.device,
                       dtype: torch.dtype) -> DraftDecoder | None:
    """The model's draft decoder, or None when it has none or has one trained for other weights."""
    loaded = load_companion(draft_folder(model_folder), DRAFT_INFO, model_hash, device, dtype,
                            name="draft decoder", retrain="latent-studio train-draft")
    if loaded is None:
        return None  # none, or made for other weights: drafts fall back to a few DDIM steps
    unet, info = loaded
    try:
        draft = DraftDecoder(unet, model_hash, int(info["timestep"]), float(info["alpha"]),
                             str(info["prediction_type"]), int(info["steps"]), info)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"The draft decoder in {draft_folder(model_folder)} is damaged ({DRAFT_INFO}: {exc}); "
                         "delete the folder or train it again with `latent-studio train-draft`.") from exc
    if draft.prediction_type not in READINGS:
        raise ModelError(f"The draft decoder in {draft_folder(model_folder)} reads its output as "
                         f"'{draft.prediction_type}', which this version does not know; train it again with "
                         "`latent-studio train-draft`.")
    return draft
