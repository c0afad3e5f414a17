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
from latent_studio.engine.families.autoencoder import AutoencodedSpace, Autoencoder, autoencoder_dir, load_autoencoder
from latent_studio.engine.families.files import (
    build_checked,
    check_scheduler,
    content_hash,
    place,
    read_json,
    read_scheduler_config,
    read_weights,
)
from latent_studio.engine.families.pixel_unet import PixelUNet

NAME = "latent UNet"


def claims(folder: Path) -> bool:
    """A folder with an autoencoder and an unconditional UNet2DModel (a text-conditioned UNet is another family)."""
    unet_config = folder / "unet" / "config.json"
    if autoencoder_dir(folder) is None or not unet_config.is_file():
        return False
    return read_json(unet_config, folder).get("_class_name", "UNet2DModel") == "UNet2DModel"


class LatentUNet(AutoencodedSpace, PixelUNet):
    """A pixel UNet's denoising over an autoencoder's latent, both on their device, with the UNet's schedule."""

    name = NAME

    def __init__(self, unet: UNet2DModel, autoencoder: Autoencoder, scheduler_config: dict[str, Any],
                 placement: Placement, content_hash: str, weights_file: Path) -> None:
        super().__init__(unet, scheduler_config, placement, content_hash, weights_file)
        self.autoencoder = autoencoder

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.autoencoder.module]


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
