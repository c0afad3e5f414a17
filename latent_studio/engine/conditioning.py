"""A project's conditioning (prompt, negative prompt, guidance) as the model's family reads it.

One conditioning per project: every frame of it is decoded with the same
one, so a morph or a turn never changes prompt half way. Unconditioned
projects (the empty prompt at guidance 1) pass ``None``, which every family
takes; a prompt on a model that reads none is one sentence, not an error
deep in the UNet.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Hashable

from latent_studio.core.errors import UserError
from latent_studio.core.project import Settings
from latent_studio.engine.models import LoadedModel


def project_conditioning(model: LoadedModel, settings: Settings) -> Any:
    """What ``family.denoise`` reads for this project's frames: None, or the family's own conditioning."""
    if not settings.conditioned:
        return None
    make = getattr(model.family, "conditioning", None)
    if make is None:
        raise UserError(f"Model '{model.source.spec}' ({model.family.name}) does not read prompts; clear the prompt, "
                        "negative prompt and guidance in Project settings, or choose a text-conditioned model.")
    return make(settings.prompt, settings.negative_prompt, settings.guidance)


def conditioning_key(conditioning: Any) -> Hashable:
    """What of a conditioning decides the pixels, for cache keys (its embeddings follow from it and the model)."""
    if conditioning is None:
        return None
    return (conditioning.prompt, conditioning.negative_prompt, conditioning.guidance)


def guided(conditioning: Any) -> bool:
    """Guidance runs the denoiser on a doubled batch, which source attention's row map does not cover."""
    return conditioning is not None and conditioning.guidance != 1.0


class _Conditioned:
    """A family whose denoiser reads one conditioning unless told another: embedding runs under the project's."""

    def __init__(self, family, conditioning) -> None:
        self._family, self._conditioning = family, conditioning

    def __getattr__(self, name: str) -> Any:
        return getattr(self._family, name)

    def denoise(self, x, timestep: int, conditioning: Any = None):
        return self._family.denoise(x, timestep, conditioning or self._conditioning)


def conditioned_model(model: LoadedModel, conditioning: Any) -> LoadedModel:
    """``model`` with every denoiser call under ``conditioning`` (itself when None), for inversion and its decode."""
    return model if conditioning is None else replace(model, family=_Conditioned(model.family, conditioning))
