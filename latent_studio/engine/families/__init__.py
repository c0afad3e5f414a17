"""Model families: one module per kind of diffusion model on disk (see ``base.ModelFamily``).

``load_family`` asks each family in turn whether it claims a folder; the
first that does loads it. Adding a family is one module here and one line
in ``FAMILIES``; nothing above the engine changes.
"""

from __future__ import annotations

from pathlib import Path

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families import (
    latent_unet,
    pixel_unet,
    single_file,
    stable_diffusion,
    stable_diffusion_xl,
)
from latent_studio.engine.families.autoencoder import autoencoder_dir
from latent_studio.engine.families.base import ModelFamily

# Each has claims(folder) -> bool and load(folder, placement, allow_pickle=) -> ModelFamily; the first that claims loads.
FAMILIES = (pixel_unet, latent_unet, stable_diffusion_xl, stable_diffusion, single_file)


def load_family(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> ModelFamily:
    """``folder`` is a model folder, or a single-file checkpoint."""
    if folder.is_file() and not single_file.claims(folder):
        single_file.refuse_unreadable(folder)
    for family in FAMILIES:
        if family.claims(folder):
            return family.load(folder, placement, allow_pickle=allow_pickle)
    if autoencoder_dir(folder) is not None and (folder / "unet" / "config.json").is_file():
        raise ModelError(
            f"{folder} is a conditional latent-diffusion model of a kind Latent Studio does not load yet (it loads "
            "pixel-space models, unconditional latent-diffusion models and Stable Diffusion 1.x, 2.x and XL)."
        )
    if autoencoder_dir(folder) is not None:
        return latent_unet.load(folder, placement, allow_pickle=allow_pickle)  # its sentence says what is missing
    return pixel_unet.load(folder, placement, allow_pickle=allow_pickle)  # its sentence says what is missing
