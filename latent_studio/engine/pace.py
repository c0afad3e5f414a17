"""Even pace for a morph: how much the picture changes along a slerp between two anchors, measured.

A slerp at evenly spaced weights does not change the picture evenly: a
morph often holds one face, then jumps. DiffMorpher's remedy, used here:
decode the blend at a few weights (a few dozen frames, at the steps the
frames will be rendered with: where a morph changes most moves with the
steps), measure the change between neighbours,
take the cumulative change normalised to run from 0 to 1, and store its
inverse (the weight at each even step of change) on the segment's first
anchor keyframe (``Keyframe.pace``). The frame pipeline reads it
(``core.keyframes.retime``), so equal steps of the easing make equal steps
of change; the keyframe times stay where they are. Where the change is
largest the weights are refined by bisection, so a jump is measured where it
happens rather than smeared over a wide interval.

The change between two frames is the RMS difference of the pictures
reduced to 32x32 in linear light units 0..1 (coarse shape and colour, not
the grain of a few steps). DiffMorpher measures with LPIPS, whose weights
cannot be fetched here; the reduced RMS is the measure that needs none.
"""

from __future__ import annotations

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.latent_math import slerp
from latent_studio.core.metrics import reduced_picture
from latent_studio.core.project import Project
from latent_studio.core.errors import UserError
from latent_studio.engine.conditioning import project_conditioning
from latent_studio.engine.decode import Progress, decode
from latent_studio.engine.models import LoadedModel

FIRST_SAMPLES = 9  # evenly spaced blend weights decoded first (0, 1/8, ..., 1)
DEFAULT_SAMPLES = 33  # decodes in all: the rest split the intervals where the picture changes most
SPLITS_PER_ROUND = 8  # midpoints decoded together in each refining round
TABLE_SIZE = 65  # entries of the stored table (progress 0, 1/64, ..., 1)
MIN_STEP = 1e-4  # of the whole change: a flat stretch still advances, so the table can be inverted


def segment_anchors(project: Project, key_index: int) -> tuple[np.ndarray, np.ndarray]:
    """The latents at both ends of the anchor segment that starts at key ``key_index``."""
    keys = project.anchors
    if not 0 <= key_index < len(keys) - 1:
        raise UserError("Even pace needs a segment: pick an anchor keyframe that another face follows.")
    start, end = keys[key_index], keys[key_index + 1]
    if start.value == end.value:
        raise UserError("Both ends of this segment show the same face; there is no morph to pace.")
    return project.asset(str(start.value)).latent, project.asset(str(end.value)).latent


def measure_pace(model: LoadedModel, project: Project, key_index: int, steps: int, samples: int = DEFAULT_SAMPLES,
                 progress: Progress | None = None, cancel: CancelToken | None = None) -> tuple[float, ...]:
    """The blend weights at which the morph has made 0, 1/64, ..., 1 of its change (a ``Keyframe.pace`` table).

    ``samples`` decodes in all: 9 evenly spaced, then rounds that split the intervals with the largest change
    (a morph that jumps is measured where it jumps)."""
    a, b = segment_anchors(project, key_index)
    conditioning = project_conditioning(model, project.settings)
    pictures: dict[float, np.ndarray] = {}

    def measure(weights: list[float]) -> None:
        latents = np.stack([slerp(a, b, w) for w in weights]).astype(np.float32)
        for weight, image in zip(weights, decode(model, latents, steps, cancel=cancel, conditioning=conditioning)):
            pictures[weight] = reduced_picture(image)
        if progress:
            progress(len(pictures), samples)

    measure([i / (FIRST_SAMPLES - 1) for i in range(FIRST_SAMPLES)])
    while len(pictures) < samples:
        weights = sorted(pictures)
        changes = _changes(pictures, weights)
        widest = np.argsort(changes)[::-1][: min(SPLITS_PER_ROUND, samples - len(pictures))]
        measure([0.5 * (weights[i] + weights[i + 1]) for i in sorted(widest)])
    weights = sorted(pictures)
    changes = _changes(pictures, weights)
    changes = np.maximum(changes, MIN_STEP * max(float(changes.sum()), 1e-12))
    cumulative = np.concatenate([[0.0], np.cumsum(changes)])
    cumulative /= cumulative[-1]
    table = np.interp(np.linspace(0.0, 1.0, TABLE_SIZE), cumulative, weights)  # the inverse, at even progress
    table[0], table[-1] = 0.0, 1.0
    return tuple(float(v) for v in np.maximum.accumulate(table))


def _changes(pictures: dict[float, np.ndarray], weights: list[float]) -> np.ndarray:
    """The change between neighbouring weights: RMS of the reduced pictures."""
    return np.array([np.sqrt(np.mean((pictures[later] - pictures[earlier]) ** 2))
                     for earlier, later in zip(weights, weights[1:])])
