"""Model families: one module per kind of diffusion model on disk (see ``base.ModelFamily``).

``load_family`` asks each family in turn whether it claims a folder; the
first that does loads it. Adding a family is one module here and one line
in ``FAMILIES``; nothing above the engine changes.
"""

from __future__ import annotations

from pathlib import Path

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families import pixel_unet
from latent_studio.engine.families.base import ModelFamily

FAMILIES = (pixel_unet,)  # each has claims(folder) -> bool and load(folder, placement, allow_pickle=) -> ModelFamily


def load_family(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> ModelFamily:
    for family in FAMILIES:
        if family.claims(folder):
            return family.load(folder, placement, allow_pickle=allow_pickle)
    if (folder / "vae").is_dir() or (folder / "vqvae").is_dir():
        raise ModelError(
            f"{folder} is a latent-diffusion model (it has an autoencoder); Latent Studio loads pixel-space "
            "UNet2DModel diffusion models so far."
        )
    return pixel_unet.load(folder, placement, allow_pickle=allow_pickle)  # its sentence says what is missing
