"""The one-pass embedding network (Asperti et al., 2023): a UNet that maps an image straight to its x_T.

It lives beside the model it was trained for, in ``embedder/`` (see
``engine.companions``; ``embedder.json`` also names the DDIM steps it
learned), and is loaded with it when present. One forward pass gives a latent
(``embed --mode network``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DModel

from latent_studio.core.errors import ModelError
from latent_studio.engine.companions import load_companion

EMBEDDER_FOLDER = "embedder"
EMBEDDER_INFO = "embedder.json"


@dataclass
class EmbedderNetwork:
    """A trained image -> x_T network for one model at one number of DDIM steps."""

    unet: UNet2DModel
    model_hash: str  # content hash of the diffusion model it inverts
    steps: int  # the DDIM steps whose x_T it predicts
    info: dict

    @torch.no_grad()
    def latents(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] (N, 3, H, W) to predicted latents (N, C, H, W), float32."""
        parameter = next(self.unet.parameters())
        timestep = torch.zeros(images.shape[0], dtype=torch.long, device=parameter.device)
        return self.unet(images.to(parameter.device, parameter.dtype), timestep).sample.float()


DEFAULT_CHANNELS = (16, 32, 64, 128)  # 10.7 ms per 64x64 image batched on the 2-core CPU (width 32 took 32 ms)


def build_embedder_unet(image_size: int, latent_channels: int, channels: tuple[int, ...] = DEFAULT_CHANNELS) -> UNet2DModel:
    """The network: a small UNet (its time input is held at 0), image channels in, latent channels out.

    Thin at full resolution because that is where a UNet spends its time, and
    the one-pass bar is 20 ms per image on a laptop-class CPU.
    """
    levels = len(channels)
    return UNet2DModel(
        sample_size=image_size,
        in_channels=3,
        out_channels=latent_channels,
        layers_per_block=1,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
        up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
        norm_num_groups=min(8, math.gcd(*channels)),
    )


def embedder_folder(model_folder: Path) -> Path:
    return Path(model_folder) / EMBEDDER_FOLDER


def load_embedder(model_folder: Path, model_hash: str, device: torch.device, dtype: torch.dtype) -> EmbedderNetwork | None:
    """The model's embedding network, or None when it has none or has one trained for other weights."""
    loaded = load_companion(embedder_folder(model_folder), EMBEDDER_INFO, model_hash, device, dtype,
                            name="embedding network", retrain="latent-studio train-embedder")
    if loaded is None:
        return None  # none, or made for other weights: inversion alone is the honest choice
    unet, info = loaded
    try:
        steps = int(info["steps"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"The embedding network in {embedder_folder(model_folder)} is damaged (no steps in "
                         f"{EMBEDDER_INFO}); delete the folder or train it again with `latent-studio train-embedder`.") from exc
    return EmbedderNetwork(unet, model_hash, steps, info)
