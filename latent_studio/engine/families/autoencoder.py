"""The autoencoder half of a latent-diffusion family: pictures to the latent DDIM runs in, and back.

Scaling follows diffusers' pipelines: a VQ latent (``vqvae/``, a
``VQModel``) is used as the encoder gives it (``LDMPipeline`` never scales
it) and quantised by the decoder; a KL latent (``vae/``, an
``AutoencoderKL``) is the posterior's mean times ``scaling_factor``, after
``shift_factor`` where the config has one. Decoding runs ``DECODE_SLICE``
pictures at a time, since the decoder's activations at full resolution are
what fills memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, VQModel

from latent_studio.engine.devices import Placement
from latent_studio.engine.families.files import build_checked, place, read_json, read_weights

KINDS = {"vqvae": VQModel, "vae": AutoencoderKL}  # folder -> the class diffusers saves there
DECODE_SLICE = 4


def autoencoder_dir(folder: Path) -> Path | None:
    for name in KINDS:
        if (folder / name / "config.json").is_file():
            return folder / name
    return None


@dataclass
class Autoencoder:
    module: VQModel | AutoencoderKL
    config: dict[str, Any]
    weights_file: Path
    placement: Placement

    @property
    def is_vq(self) -> bool:
        return isinstance(self.module, VQModel)

    @property
    def scale(self) -> float:
        return 1.0 if self.is_vq else float(self.module.config.scaling_factor)

    @property
    def shift(self) -> float:
        shift = None if self.is_vq else self.module.config.shift_factor
        return 0.0 if shift is None else float(shift)

    @property
    def latent_channels(self) -> int:
        if self.is_vq:
            return int(self.config.get("vq_embed_dim") or self.config.get("latent_channels", 3))
        return int(self.config.get("latent_channels", 4))

    @property
    def downscale(self) -> int:
        """How many pixels one latent cell covers along each side: 2 per down block after the first."""
        return 2 ** (len(self.module.config.block_out_channels) - 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.to(self.placement.device, self.placement.dtype)
        if self.is_vq:
            return self.module.encode(pixels).latents.float()
        return (self.module.encode(pixels).latent_dist.mean.float() - self.shift) * self.scale

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        pictures = []
        for part in x0.split(DECODE_SLICE):
            z = part.float() / self.scale + self.shift
            pictures.append(self.module.decode(z.to(self.placement.dtype)).sample.float())
        return torch.cat(pictures)


class AutoencodedSpace:
    """What a family whose DDIM runs in an autoencoder's latent answers through it (needs ``autoencoder`` and
    ``latent_shape``): the pictures' size, and the two space conversions."""

    autoencoder: Autoencoder

    @property
    def image_size(self) -> tuple[int, int]:
        factor = self.autoencoder.downscale
        return (self.latent_shape[1] * factor, self.latent_shape[2] * factor)

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(images)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode(x0)


def load_autoencoder(directory: Path, folder: Path, placement: Placement, allow_pickle: bool) -> Autoencoder:
    config = read_json(directory / "config.json", folder)
    weights_file, state = read_weights(directory, folder, allow_pickle)
    module = build_checked(KINDS[directory.name], config, state, folder, weights_file)
    own = upcast_placement(config, placement)
    place(module, own)
    return Autoencoder(module, config, weights_file, own)


def upcast_placement(config: dict[str, Any], placement: Placement) -> Placement:
    """float16 overflows in autoencoders that ask for upcasting (``force_upcast``, e.g. SDXL's VAE): keep those in float32."""
    if placement.dtype == torch.float16 and config.get("force_upcast", False):
        return Placement(placement.device, torch.float32)
    return placement
