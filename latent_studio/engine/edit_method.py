"""How a new direction's edits decode: beside their unedited source (source attention) or plainly. Measured.

Source attention (``source_attention.py``) keeps light, hair and background
while a direction moves the pose or the expression: the shipped toy-heads
head turn, smile and glasses use it. But it keeps appearance by copying the
source's, so it also undoes a direction whose point is appearance (the
shipped hair-hue direction decodes plainly). A direction made by a user
(from groups of assets, by discovery, on any model) gets the same choice by
measurement: a few faces are moved to both ends of its range and decoded
plainly and beside their source; the share of the plain change that
survives beside the source (the projection of one change on the other) says
whether the direction is one source attention keeps. On toy-heads' shipped
directions (the median over the 4 trial faces and both ends of the range,
at 10 / 20 steps): head turn 0.72 / 0.69, smile 0.64 / 0.57, glasses
0.69 / 0.62, hair hue 0.34 / 0.35 (single faces at 20 steps: geometry
0.51-0.94, hair hue 0.20-0.48). The median decides against ``KEEPS``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import Direction
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import Progress, decode
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.source_attention import decode_attending

KEEPS = 0.5  # between geometry's 0.57-0.72 and appearance's 0.34-0.35 (toy-heads, above)
TRIAL_FACES = 4
TRIAL_STEPS = 10  # separates as well as 20 (above), at half the cost
TRIAL_SEED = 7_000_000  # faces tried when the direction comes with none of its own


def kept_share(model: LoadedModel, vector: np.ndarray, strengths: tuple[float, ...], faces: np.ndarray, *,
               steps: int = TRIAL_STEPS, conditioning: Any = None, cancel: CancelToken | None = None,
               progress: Progress | None = None) -> float:
    """The median, over faces and strengths, of how much of the plain edit's change survives beside the source."""
    count = len(faces)
    total = (1 + 2 * len(strengths)) * count
    done = 0

    def advance(images: np.ndarray) -> np.ndarray:
        nonlocal done
        done += count
        if progress:
            progress(done, total)
        return images.astype(np.float64)

    base = advance(decode(model, faces, steps, conditioning=conditioning, cancel=cancel))
    shares = []
    for strength in strengths:
        edits = faces + np.float32(strength) * vector[None]
        plain = advance(decode(model, edits, steps, conditioning=conditioning, cancel=cancel)) - base
        beside = advance(decode_attending(model, edits, faces, list(range(count)), 0.0, steps,
                                          conditioning=conditioning, cancel=cancel)) - base
        for p, b in zip(plain, beside, strict=True):
            size = float(np.sum(p * p))
            if size > 0:  # an edit that changes nothing says nothing
                shares.append(float(np.sum(p * b)) / size)
    return float(np.median(shares)) if shares else 0.0


def choose_edit_method(model: LoadedModel, direction: Direction, faces: np.ndarray | None = None, **kwargs) -> Direction:
    """``direction`` decoding beside its source from the first step where that keeps its change, else plainly.

    ``faces``: latents to try it on (the user's own, up to ``TRIAL_FACES``); seeded faces otherwise.
    """
    if faces is None or len(faces) == 0:
        faces = np.stack([noise_latent(TRIAL_SEED + i, model.latent_shape) for i in range(TRIAL_FACES)])
    faces = np.asarray(faces[:TRIAL_FACES], dtype=np.float32)
    low, high = direction.strength_range
    strengths = tuple(s for s in (low, high) if s != 0)
    share = kept_share(model, direction.vector, strengths, faces, **kwargs)
    start = 0.0 if share >= KEEPS else None
    info = dict(direction.info, kept_beside_source=f"{share:.2f}")
    return replace(direction, source_attention_from=start, info=info)
