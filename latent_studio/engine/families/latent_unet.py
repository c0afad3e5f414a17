"""The latent-diffusion family: an unconditional ``UNet2DModel`` denoising an autoencoder's latent.

The layout of CompVis/ldm-celebahq-256 (``LDMPipeline``): ``unet/``,
``scheduler/`` and the autoencoder in ``vqvae/`` (a ``VQModel``) or ``vae/``
(an ``AutoencoderKL``). DDIM runs in the autoencoder's latent space, so the
artist's x_T is (latent channels, H/f, W/f) for the autoencoder's downscale f;
embedding encodes the picture first and inverts from there, decoding ends in
the autoencoder's decoder.

Scaling follows diffusers' pipelines: a VQ latent is used as the encoder
gives it (``LDMPipeline`` never scales it) and quantised by the decoder; a KL
latent is the posterior's mean times ``scaling_factor`` (after
``shift_factor`` where the config has one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DModel, VQModel

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

NAME = "latent UNet"
AUTOENCODERS = {"vqvae": VQModel, "vae": AutoencoderKL}  # folder -> the class diffusers saves there
DECODE_SLICE = 4  # pictures the autoencoder decodes at once: its activations at full resolution dominate memory


def autoencoder_dir(folder: Path) -> Path | None:
    for name in AUTOENCODERS:
        if (folder / name / "config.json").is_file():
            return folder / name
    return None


def claims(folder: Path) -> bool:
    """A folder with an autoencoder and an unconditional UNet2DModel (a text-conditioned UNet is another family)."""
    unet_config = folder / "unet" / "config.json"
    if autoencoder_dir(folder) is None or not unet_config.is_file():
        return False
    return read_json(unet_config, folder).get("_class_name", "UNet2DModel") == "UNet2DModel"


class LatentUNet:
    """A UNet over an autoencoder's latent, both on their device, with the schedule the UNet was trained with."""

    name = NAME

    def __init__(self, unet: UNet2DModel, autoencoder: VQModel | AutoencoderKL, scheduler_config: dict[str, Any],
                 placement: Placement, content_hash: str, weights_file: Path) -> None:
        self.unet = unet
        self.autoencoder = autoencoder
        self.scheduler_config = scheduler_config
        self.placement = placement
        self.content_hash = content_hash
        self.weights_file = weights_file
        self.is_vq = isinstance(autoencoder, VQModel)
        config = autoencoder.config
        self.scale = 1.0 if self.is_vq else float(config.scaling_factor)
        self.shift = 0.0 if self.is_vq or config.shift_factor is None else float(config.shift_factor)

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.unet

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (int(self.unet.config.in_channels), int(height), int(width))

    @property
    def image_size(self) -> tuple[int, int]:
        factor = downscale(self.autoencoder.config)
        return (self.latent_shape[1] * factor, self.latent_shape[2] * factor)

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.autoencoder]

    def denoise(self, x: torch.Tensor, timestep: int, conditioning: Any = None) -> torch.Tensor:
        if conditioning is not None:
            raise ValueError("this latent UNet is unconditional")
        model_dtype = next(self.unet.parameters()).dtype
        t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        return self.unet(x.to(model_dtype), t).sample.float()

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.to(self.placement.device, _dtype_of(self.autoencoder))
        if self.is_vq:
            return self.autoencoder.encode(pixels).latents.float()
        mean = self.autoencoder.encode(pixels).latent_dist.mean.float()
        return (mean - self.shift) * self.scale

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        pictures = []
        for part in x0.split(DECODE_SLICE):
            z = part.float() / self.scale + self.shift
            pictures.append(self.autoencoder.decode(z.to(_dtype_of(self.autoencoder))).sample.float())
        return torch.cat(pictures)


def downscale(config) -> int:
    """How many pixels one latent cell covers along each side: 2 per down block after the first."""
    return 2 ** (len(config.block_out_channels) - 1)


def load(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> LatentUNet:
    auto_dir = autoencoder_dir(folder)
    unet_dir = folder / "unet"
    if auto_dir is None or not (unet_dir / "config.json").is_file():
        missing = "unet/config.json" if auto_dir is not None else "the autoencoder (vqvae/ or vae/ with config.json)"
        raise ModelError(f"{folder} is an incomplete latent-diffusion model: {missing} is missing. Copy the complete model folder.")
    unet_config = read_json(unet_dir / "config.json", folder)
    auto_config = read_json(auto_dir / "config.json", folder)
    scheduler_config = read_scheduler_config(folder)
    auto_class = AUTOENCODERS[auto_dir.name]
    check_supported(unet_config, auto_config, auto_class, scheduler_config, folder)
    unet_weights, unet_state = read_weights(unet_dir, folder, allow_pickle)
    auto_weights, auto_state = read_weights(auto_dir, folder, allow_pickle)
    unet = build_checked(UNet2DModel, unet_config, unet_state, folder, unet_weights)
    autoencoder = build_checked(auto_class, auto_config, auto_state, folder, auto_weights)
    place(unet, placement)
    place(autoencoder, autoencoder_placement(auto_config, placement))
    digest = content_hash([unet_weights, auto_weights], [unet_config, auto_config, scheduler_config])
    return LatentUNet(unet, autoencoder, scheduler_config, placement, digest, unet_weights)


def autoencoder_placement(config: dict[str, Any], placement: Placement) -> Placement:
    """float16 overflows in autoencoders that ask for upcasting (``force_upcast``, e.g. SDXL's VAE): keep those in float32."""
    if placement.dtype == torch.float16 and config.get("force_upcast", False):
        return Placement(placement.device, torch.float32)
    return placement


def check_supported(unet_config: dict[str, Any], auto_config: dict[str, Any], auto_class, scheduler_config: dict[str, Any],
                    folder: Path) -> None:
    if unet_config.get("num_class_embeds") or unet_config.get("class_embed_type"):
        raise ModelError(f"{folder} is class-conditional; Latent Studio needs an unconditional or text-conditioned model.")
    if auto_class is VQModel:
        channels = auto_config.get("vq_embed_dim") or auto_config.get("latent_channels", 3)
    else:
        channels = auto_config.get("latent_channels", 4)
    for side, key in (("input", "in_channels"), ("output", "out_channels")):
        if unet_config.get(key, 3) != channels:
            raise ModelError(
                f"{folder}'s UNet has {unet_config.get(key, 3)} {side} channels but its autoencoder's latent has "
                f"{channels}; the folder mixes parts of different models. Copy the complete model again."
            )
    check_scheduler(scheduler_config, folder)


def _dtype_of(module: torch.nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype
