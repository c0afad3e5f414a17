"""Unsupervised directions as an artist meets them: a gallery of short strips to name and keep.

The finding is ``engine.discovery.discover_directions``; here each found
direction gets a strip around one face (the project's, or a seed's) and the
kept ones become the project's directions in one undo step.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw

from latent_studio.core.directions import Direction
from latent_studio.core.edits import AddDirection, Batch
from latent_studio.core.errors import UserError
from latent_studio.core.project import new_id
from latent_studio.engine.discovery import Discovery, strip
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
