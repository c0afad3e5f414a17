"""The model-family seam: what decoding, inversion and the app need from a diffusion model.

A family is one self-contained file that knows one kind of model on disk
(diffusers' way: explicit code per family, no generic loader). Everything
above the engine sees only this interface, so a latent-diffusion family (an
autoencoder around the UNet) or a text-conditioned one slots in beside the
pixel UNet without touching decode, inversion, the app or the UI.

Spaces: *images* are float tensors (N, 3, H, W) in [-1, 1]; the *model
space* is where DDIM runs (pixels for a pixel UNet, the autoencoder's latent
for a latent model); the *latent* the artist edits is the DDIM x_T in model
space, of shape ``latent_shape``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from latent_studio.engine.devices import Placement


class ModelFamily(Protocol):
    """One loaded model of one family, on its device."""

    name: str  # e.g. "pixel UNet"
    scheduler_config: dict[str, Any]  # the noise schedule it was trained with (read by engine.ddim)
    placement: Placement
    content_hash: str  # SHA-256 of every component's weights and semantic config
    weights_file: Path  # the denoiser's weights (shown by `info`)

    @property
    def denoiser(self) -> torch.nn.Module:
        """The network DDIM calls (source attention swaps its self-attention; an autoencoder is left alone)."""

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of x_T."""

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the pictures it makes."""

    def modules(self) -> list[torch.nn.Module]:
        """Every network it runs (for parameter counts and speed settings)."""

    def denoise(self, x: torch.Tensor, timestep: int, conditioning: Any = None) -> torch.Tensor:
        """One denoiser evaluation at ``timestep`` on model-space ``x``; the output comes back as float32."""

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] to the clean model-space x_0 that DDIM inversion starts from."""

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        """The model-space x_0 a decode ends on, to images in [-1, 1] (not yet clamped)."""
