"""Directions as an artist meets them: a gallery of unsupervised strips to name and keep, and a head turn
discovered with the face detector's help.

The unsupervised finding is ``engine.discovery.discover_directions``; here
each found direction gets a strip around one face (the project's, or a
seed's) and the kept ones become the project's directions in one undo step.
``discover_head_turn`` labels sampled faces by how their heads are turned
(the nose's offset from between the eyes, ``media.face_detect``) and fits
the seed paper's binned-centroid regression through them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from latent_studio.core.directions import Direction
from latent_studio.core.edits import AddDirection, Batch
from latent_studio.core.errors import UserError
from latent_studio.core.project import new_id
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.discovery import (
    CHECK_FACES,
    DISCOVERY_SEED,
    FALLBACK_STEPS,
    Discovery,
    binned_direction,
    discover_directions,
    strip,
)
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.edit_method import choose_edit_method
from latent_studio.engine.models import LoadedModel

THUMB = 96


def gallery(model: LoadedModel, discovery: Discovery, latent: np.ndarray) -> list[np.ndarray]:
    """One strip per direction, each (5, H, W, 3), around ``latent``."""
    return [strip(model, direction, latent, steps=discovery.steps) for direction in discovery.directions]


def draw_gallery(strips: list[np.ndarray], labels: list[str]) -> Image.Image:
    """The strips as one picture, a row each, labelled."""
    count = len(strips[0]) if strips else 0
    picture = Image.new("RGB", (180 + count * (THUMB + 4), max(1, len(strips)) * (THUMB + 8)), (24, 24, 28))
    draw = ImageDraw.Draw(picture)
    for row, (pictures, label) in enumerate(zip(strips, labels, strict=True)):
        top = row * (THUMB + 8) + 4
        draw.text((8, top + THUMB // 2 - 6), label, fill=(235, 235, 235))
        for column, image in enumerate(pictures):
            thumb = Image.fromarray(image).resize((THUMB, THUMB), Image.Resampling.LANCZOS)
            picture.paste(thumb, (180 + column * (THUMB + 4), top))
    return picture


def keep_directions(kept: list[tuple[Direction, str]]) -> Batch:
    """The kept directions, under the names the user gave them, as the project's own: one undo step."""
    if not kept:
        raise UserError("Tick Keep beside at least one direction, or close the gallery.")
    commands = []
    for direction, name in kept:
        name = name.strip() or direction.name
        commands.append(AddDirection(replace(direction, name=name, id=f"user_{new_id()}", origin="user")))
    return Batch(commands, "Keep discovered directions")


DETECT_SIZE = 256  # pictures are enlarged to this before the face detector looks at them


def discover_head_turn(model: LoadedModel, samples: int = 512, *, progress=None, cancel=None) -> Direction:
    """A "Head turn" direction for any face model: sampled faces labelled by the detector's turn measure, binned,
    and a line fitted through the bins' centroids (strength in the measure's units: eye distances of nose offset).
    Faces the detector misses are left out; too few found is one sentence."""
    from latent_studio.media.face_detect import detect_faces

    steps = DRAFT_PASS if model.draft is not None else FALLBACK_STEPS
    latents = np.stack([noise_latent(DISCOVERY_SEED + i, model.latent_shape) for i in range(samples)])
    kept, turns = [], []
    for start in range(0, samples, 32):
        pictures = decode(model, latents[start:start + 32], steps, batch_size=32, cancel=cancel)
        for offset, picture in enumerate(pictures):
            found = detect_faces(Image.fromarray(picture).resize((DETECT_SIZE, DETECT_SIZE), Image.Resampling.BICUBIC))
            if found:
                kept.append(start + offset)
                turns.append(found[0].turn)
        if progress:
            progress(min(start + 32, samples), samples)
    if len(kept) < max(24, samples // 4):
        raise UserError(f"The face detector found faces in only {len(kept)} of {samples} samples of this model, "
                        "too few to fit a head turn; it works on models of photographic or drawn faces.")
    turns = np.array(turns)
    reach = float(np.percentile(np.abs(turns), 95))
    direction = binned_direction("Head turn", latents[kept], turns, model.content_hash, strength_range=(-reach, reach),
                                 unit="eye widths")
    direction = replace(direction, method="binned-centroid regression on detected turn",
                        info={**direction.info, "found": f"{len(kept)} of {samples}",
                              "labels": "face detector (nose offset)"})
    trial = (lambda done, total: progress(samples + done, samples + total)) if progress else None
    return choose_edit_method(model, direction, latents[kept], cancel=cancel, progress=trial)


def discover_choosing_edits(model: LoadedModel, count: int, samples: int, *, progress=None, cancel=None) -> Discovery:
    """``discover_directions``, each found direction then decoding as its trial says (``choose_edit_method``):
    beside its source where that keeps its change (a turn, an expression), plainly where it would undo it (a
    colour, the light)."""
    found = discover_directions(model, count, samples, progress=progress, cancel=cancel)
    base = samples + CHECK_FACES * (count + 1)  # discover_directions' own total
    chosen = []
    for n, direction in enumerate(found.directions):
        trial = (lambda done, total, n=n: progress(base + n * total + done, base + count * total)) if progress else None
        chosen.append(choose_edit_method(model, direction, cancel=cancel, progress=trial))
    return replace(found, directions=chosen)
