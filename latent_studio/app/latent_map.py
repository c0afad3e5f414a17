"""The latent map of a project: its faces and N sampled faces placed in 2-D, drawn as a picture of thumbnails.

Headless (the CLI's ``latent-studio map``; the app's map panel is still to
come): every latent is decoded at the project's preview steps (the
thumbnails, and the "pictures" features, ``engine.latent_map``), projected
by PCA or UMAP, and drawn: sampled faces small, the project's own faces
larger with a frame and their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from latent_studio.core.cancel import CancelToken
from latent_studio.core.project import Project
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.conditioning import project_conditioning
from latent_studio.engine.decode import decode
from latent_studio.engine.latent_map import bottleneck_features, picture_features, project_2d
from latent_studio.engine.models import LoadedModel

SAMPLE_SEEDS_FROM = 1_000_000  # sampled faces use seeds from here, so they are the same on every run
CANVAS = 1600
SAMPLE_THUMB = 48
ASSET_THUMB = 96


@dataclass(frozen=True)
class LatentMap:
    positions: np.ndarray  # (N, 2) in [0, 1]
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: list[str | None]  # the asset's name, or None for a sampled face
    seeds: list[int | None]  # a sampled face's seed (to make it an asset)


def build_map(model: LoadedModel, project: Project, samples: int, *, method: str = "pca", space: str = "pictures",
              steps: int | None = None, progress: Callable[[int, int], None] | None = None,
              cancel: CancelToken | None = None) -> LatentMap:
    assets = list(project.assets.values())
    seeds = [SAMPLE_SEEDS_FROM + i for i in range(samples)]
    latents = np.stack([a.latent for a in assets] + [noise_latent(s, model.latent_shape) for s in seeds])
    images = decode(model, latents, steps or project.settings.preview_steps, progress=progress, cancel=cancel,
                    conditioning=project_conditioning(model, project.settings))
    features = picture_features(images) if space == "pictures" else bottleneck_features(model, latents, cancel=cancel)
    return LatentMap(project_2d(features, method), images, [a.name for a in assets] + [None] * samples,
                     [None] * len(assets) + seeds)


def draw_map(latent_map: LatentMap, size: int = CANVAS) -> Image.Image:
    """The map as a picture: sampled faces first, the project's faces on top, framed and named."""
    canvas = Image.new("RGB", (size, size), (24, 24, 28))
    draw = ImageDraw.Draw(canvas)
    margin = ASSET_THUMB
    order = sorted(range(len(latent_map.labels)), key=lambda i: latent_map.labels[i] is not None)
    for i in order:
        label = latent_map.labels[i]
        thumb = ASSET_THUMB if label else SAMPLE_THUMB
        x, y = (margin + latent_map.positions[i] * (size - 2 * margin)).astype(int)
        picture = Image.fromarray(latent_map.images[i]).resize((thumb, thumb), Image.Resampling.LANCZOS)
        left, top = x - thumb // 2, y - thumb // 2
        canvas.paste(picture, (left, top))
        if label:
            draw.rectangle((left - 3, top - 3, left + thumb + 2, top + thumb + 2), outline=(240, 150, 40), width=3)
            draw.text((left, top + thumb + 5), label, fill=(240, 240, 240))
    return canvas
