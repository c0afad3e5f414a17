"""The latent-diffusion family: an unconditional ``UNet2DModel`` denoising an autoencoder's latent.

The layout of CompVis/ldm-celebahq-256 (``LDMPipeline``): ``unet/``,
``scheduler/`` and the autoencoder in ``vqvae/`` (a ``VQModel``) or ``vae/``
(an ``AutoencoderKL``). DDIM runs in the autoencoder's latent space, so the
artist's x_T is (latent channels, H/f, W/f) for the autoencoder's downscale f;
embedding encodes the picture first and inverts from there, decoding ends in
the autoencoder's decoder (``autoencoder.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families.autoencoder import Autoencoder, autoencoder_dir, load_autoencoder
from latent_studio.engine.families.files import (
    build_checked,
    check_scheduler,
    content_hash,
    place,
    read_json,
    read_scheduler_config,
    read_weights,
)

NAME = "latent UNet"


def claims(folder: Path) -> bool:
    """A folder with an autoencoder and an unconditional UNet2DModel (a text-conditioned UNet is another family)."""
    unet_config = folder / "unet" / "config.json"
    if autoencoder_dir(folder) is None or not unet_config.is_file():
        return False
    return read_json(unet_config, folder).get("_class_name", "UNet2DModel") == "UNet2DModel"


class LatentUNet:
    """A UNet over an autoencoder's latent, both on their device, with the schedule the UNet was trained with."""

    name = NAME

    def __init__(self, unet: UNet2DModel, autoencoder: Autoencoder, scheduler_config: dict[str, Any],
                 placement: Placement, content_hash: str, weights_file: Path) -> None:
        self.unet = unet
        self.autoencoder = autoencoder
        self.scheduler_config = scheduler_config
        self.placement = placement
        self.content_hash = content_hash
        self.weights_file = weights_file

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.unet

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return unet_latent_shape(self.unet)

    @property
    def image_size(self) -> tuple[int, int]:
        factor = self.autoencoder.downscale
        return (self.latent_shape[1] * factor, self.latent_shape[2] * factor)

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.autoencoder.module]

    def denoise(self, x: torch.Tensor, timestep: int, conditioning: Any = None) -> torch.Tensor:
        if conditioning is not None:
            raise ValueError("this latent UNet is unconditional")
        model_dtype = next(self.unet.parameters()).dtype
        t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        return self.unet(x.to(model_dtype), t).sample.float()

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(images)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(x0)


def unet_latent_shape(unet) -> tuple[int, int, int]:
    size = unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return (int(unet.config.in_channels), int(height), int(width))


def load(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> LatentUNet:
    auto_dir = autoencoder_dir(folder)
    unet_dir = folder / "unet"
    if auto_dir is None or not (unet_dir / "config.json").is_file():
        missing = "unet/config.json" if auto_dir is not None else "the autoencoder (vqvae/ or vae/ with config.json)"
        raise ModelError(f"{folder} is an incomplete latent-diffusion model: {missing} is missing. Copy the complete model folder.")
    unet_config = read_json(unet_dir / "config.json", folder)
    scheduler_config = read_scheduler_config(folder)
    if unet_config.get("num_class_embeds") or unet_config.get("class_embed_type"):
        raise ModelError(f"{folder} is class-conditional; Latent Studio needs an unconditional or text-conditioned model.")
    check_scheduler(scheduler_config, folder)
    autoencoder = load_autoencoder(auto_dir, folder, placement, allow_pickle)
    check_channels(unet_config, autoencoder, folder)
    unet_weights, unet_state = read_weights(unet_dir, folder, allow_pickle)
    unet = build_checked(UNet2DModel, unet_config, unet_state, folder, unet_weights)
    place(unet, placement)
    digest = content_hash([unet_weights, autoencoder.weights_file], [unet_config, autoencoder.config, scheduler_config])
    return LatentUNet(unet, autoencoder, scheduler_config, placement, digest, unet_weights)


def check_channels(unet_config: dict[str, Any], autoencoder: Autoencoder, folder: Path) -> None:
    channels = autoencoder.latent_channels
    for side, key in (("input", "in_channels"), ("output", "out_channels")):
        if unet_config.get(key, 4) != channels:
            raise ModelError(
                f"{folder}'s UNet has {unet_config.get(key, 4)} {side} channels but its autoencoder's latent has "
                f"{channels}; the folder mixes parts of different models. Copy the complete model again."
            )
