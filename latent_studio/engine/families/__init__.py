"""Model families: one module per kind of diffusion model on disk (see ``base.ModelFamily``).

``load_family`` asks each family in turn whether it claims a folder; the
first that does loads it. Adding a family is one module here and one line
in ``FAMILIES``; nothing above the engine changes.
"""

from __future__ import annotations

from pathlib import Path

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families import latent_unet, pixel_unet
from latent_studio.engine.families.base import ModelFamily

FAMILIES = (pixel_unet, latent_unet)  # each has claims(folder) -> bool and load(folder, placement, allow_pickle=) -> ModelFamily


def load_family(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> ModelFamily:
    for family in FAMILIES:
        if family.claims(folder):
            return family.load(folder, placement, allow_pickle=allow_pickle)
    if latent_unet.autoencoder_dir(folder) is not None and (folder / "unet" / "config.json").is_file():
        raise ModelError(
            f"{folder} is a text-conditioned latent-diffusion model (Stable Diffusion style); Latent Studio loads "
            "pixel-space and unconditional latent-diffusion models so far."
        )
    if latent_unet.autoencoder_dir(folder) is not None:
        return latent_unet.load(folder, placement, allow_pickle=allow_pickle)  # its sentence says what is missing
    return pixel_unet.load(folder, placement, allow_pickle=allow_pickle)  # its sentence says what is missing
