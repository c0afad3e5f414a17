"""The pixel-space family: an unconditional diffusers ``UNet2DModel`` denoising RGB images directly.

Two folder layouts: the pipeline layout (model_index.json, unet/, scheduler/)
and the flat layout of google/ddpm-* repositories (config.json and
scheduler_config.json beside the weights). Model space is image space, so
x_T has the picture's own shape and both space conversions are the identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families.files import (
    build_checked,
    check_scheduler,
    content_hash,
    place,
    read_json,
    read_scheduler_config,
    read_weights,
)

NAME = "pixel UNet"


def unet_dir(folder: Path) -> Path | None:
    for candidate in (folder / "unet", folder):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def claims(folder: Path) -> bool:
    """A folder with a UNet config and no autoencoder beside it."""
    return unet_dir(folder) is not None and not (folder / "vae").is_dir() and not (folder / "vqvae").is_dir()


class PixelUNet:
    """A pixel-space UNet on its device plus the frozen schedule it was trained with."""

    name = NAME

    def __init__(self, unet: UNet2DModel, scheduler_config: dict[str, Any], placement: Placement,
                 content_hash: str, weights_file: Path) -> None:
        self.unet = unet
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
        return self.latent_shape[1:]

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet]

    def denoise(self, x: torch.Tensor, timestep: int, conditioning: Any = None) -> torch.Tensor:
        if conditioning is not None:
            raise ValueError(f"a {self.name} is unconditional")
        model_dtype = next(self.unet.parameters()).dtype
        t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        return self.unet(x.to(model_dtype), t).sample.float()

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        return images.float()

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        return x0


def unet_latent_shape(unet) -> tuple[int, int, int]:
    """(channels, height, width) a diffusers UNet denoises, from its config."""
    size = unet.config.sample_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return (int(unet.config.in_channels), int(height), int(width))


def load(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> PixelUNet:
    component = unet_dir(folder)
    if component is None:
        raise ModelError(
            f"{folder} is not a diffusers model folder: it has neither unet/config.json nor config.json "
            "(an incomplete copy? copy or download it again)."
        )
    unet_config = read_json(component / "config.json", folder)
    scheduler_config = read_scheduler_config(folder)
    check_supported(unet_config, scheduler_config, folder)
    weights_file, state_dict = read_weights(component, folder, allow_pickle)
    unet = build_checked(UNet2DModel, unet_config, state_dict, folder, weights_file)
    place(unet, placement)
    digest = content_hash([weights_file], [unet_config, scheduler_config])
    return PixelUNet(unet, scheduler_config, placement, digest, weights_file)


def check_supported(unet_config: dict[str, Any], scheduler_config: dict[str, Any], folder: Path) -> None:
    class_name = unet_config.get("_class_name", "UNet2DModel")
    if class_name != "UNet2DModel":
        raise ModelError(
            f"{folder} holds a {class_name}; Latent Studio works with pixel-space UNet2DModel diffusion models."
        )
    if unet_config.get("in_channels", 3) != 3 or unet_config.get("out_channels", 3) != 3:
        raise ModelError(
            f"{folder} has {unet_config.get('in_channels')} input and {unet_config.get('out_channels')} output "
            "channels; Latent Studio needs an RGB pixel-space model (3 and 3)."
        )
    if unet_config.get("num_class_embeds") or unet_config.get("class_embed_type"):
        raise ModelError(f"{folder} is class-conditional; Latent Studio needs an unconditional model.")
    check_scheduler(scheduler_config, folder)
