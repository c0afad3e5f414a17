"""The latent map of a project: its faces and N sampled faces placed in 2-D, drawn as a picture of thumbnails.

Headless (the CLI's ``latent-studio map`` and the app's Latent map panel,
``ui/map_panel.py``): every latent is decoded in one pass of the draft
decoder, or at the project's preview steps when the model has none (the
thumbnails, and the "pictures" features, ``engine.latent_map``),
projected by PCA or UMAP, and drawn: sampled faces small, the project's own
faces larger with a frame and their name. The panel's edits are made here:
a sampled face as an asset, and a path drawn across the map as the faces
along it, laid on the anchor track in one undo step.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import Direction
from latent_studio.core.edits import AddAsset, AddKeyframe, Batch, RemoveKeyframe
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import ANCHOR_TRACK, Asset, Project, SavedMap, new_id
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.conditioning import project_conditioning
from latent_studio.engine.decode import decode
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.latent_map import bottleneck_features, picture_features, project_2d
from latent_studio.engine.models import LoadedModel
from latent_studio.media.images import encode_png

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
    asset_ids: list[str | None] = field(default_factory=list)  # the project's asset at each point, if any
    latents: np.ndarray | None = None  # (N, C, H, W): for colouring by a direction
    model_hash: str = ""  # the model it was made with (a map of another model is not shown)
    method: str = "pca"
    features: np.ndarray | None = None  # what the positions were projected from (none for a map read from a file)


def reproject(latent_map: LatentMap, method: str) -> LatentMap:
    """The same faces placed by another method (the panel shows PCA at once, then UMAP when it is done)."""
    return replace(latent_map, positions=project_2d(latent_map.features, method), method=method)


ATLAS_THUMB = 64  # pixels per thumbnail in a saved map


def to_saved(latent_map: LatentMap) -> SavedMap:
    """The map as the project keeps it: positions, who is where, and the thumbnails in one PNG."""
    count = len(latent_map.images)
    columns = max(1, int(np.ceil(np.sqrt(count))))
    atlas = Image.new("RGB", (columns * ATLAS_THUMB, -(-count // columns) * ATLAS_THUMB))
    for i, image in enumerate(latent_map.images):
        thumb = Image.fromarray(image).resize((ATLAS_THUMB, ATLAS_THUMB), Image.Resampling.LANCZOS)
        atlas.paste(thumb, ((i % columns) * ATLAS_THUMB, (i // columns) * ATLAS_THUMB))
    return SavedMap(latent_map.model_hash, latent_map.method, latent_map.positions.astype(np.float32),
                    tuple(latent_map.seeds), tuple(latent_map.asset_ids), encode_png(np.asarray(atlas)))


def from_saved(saved: SavedMap, project: Project, model: LoadedModel) -> LatentMap | None:
    """The saved map again, for this model (None for another model's); faces of removed assets are left out."""
    if saved.model_hash != model.content_hash:
        return None
    with Image.open(io.BytesIO(saved.atlas)) as opened:
        atlas = np.asarray(opened.convert("RGB"))
    columns = max(1, atlas.shape[1] // ATLAS_THUMB)
    keep = [i for i, (seed, asset_id) in enumerate(zip(saved.seeds, saved.asset_ids, strict=True))
            if seed is not None or asset_id in project.assets]
    if (max(keep, default=0) // columns + 1) * ATLAS_THUMB > atlas.shape[0]:
        return None  # an atlas too small for its points: compute the map again
    images = np.stack([atlas[(i // columns) * ATLAS_THUMB:(i // columns + 1) * ATLAS_THUMB,
                             (i % columns) * ATLAS_THUMB:(i % columns + 1) * ATLAS_THUMB] for i in keep])
    latents = np.stack([noise_latent(saved.seeds[i], model.latent_shape) if saved.seeds[i] is not None
                        else project.assets[saved.asset_ids[i]].latent for i in keep])
    labels = [None if saved.seeds[i] is not None else project.assets[saved.asset_ids[i]].name for i in keep]
    return LatentMap(saved.positions[keep], images, labels, [saved.seeds[i] for i in keep],
                     [saved.asset_ids[i] for i in keep], latents, saved.model_hash, saved.method)


def strengths_along(latent_map: LatentMap, direction: Direction) -> np.ndarray:
    """Each point's position along a direction (its latent's projection onto the direction, in the direction's
    units at calibration 1), for colouring the map."""
    vector = direction.vector.reshape(-1).astype(np.float64)
    flat = latent_map.latents.reshape(len(latent_map.latents), -1).astype(np.float64)
    return (flat @ vector) / max(float(vector @ vector), 1e-12)


def sampled_asset(latent_map: LatentMap, index: int) -> Asset:
    """A sampled face of the map as an asset (its map thumbnail kept; nothing to decode)."""
    seed = latent_map.seeds[index]
    if seed is None:
        raise UserError("That face is already one of the project's.")
    return Asset(new_id(), "seed", f"Seed {seed}", latent_map.latents[index].copy(), f"seed {seed}", seed=seed,
                 thumbnail=encode_png(latent_map.images[index]))


def faces_along(latent_map: LatentMap, path: np.ndarray, count: int) -> list[int]:
    """The map's points nearest ``count`` evenly spaced places along a path (map coordinates), in order, each once."""
    path = np.asarray(path, np.float64)
    if len(path) < 2 or count < 1:
        return []
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if lengths[-1] <= 0:
        return []
    places = np.stack([np.interp(np.linspace(0, lengths[-1], count), lengths, path[:, k]) for k in range(2)], axis=1)
    chosen: list[int] = []
    for place in places:
        nearest = int(np.argmin(np.linalg.norm(latent_map.positions - place, axis=1)))
        if nearest not in chosen:
            chosen.append(nearest)
    return chosen


def path_edit(project: Project, latent_map: LatentMap, indices: list[int]) -> Batch:
    """One undo step: the faces at ``indices`` (sampled ones made assets) replace the anchor track, evenly spaced."""
    if len(indices) < 2:
        raise UserError("Draw the path across at least two faces of the map.")
    commands, ids = [], []
    for index in indices:
        asset_id = latent_map.asset_ids[index] if index < len(latent_map.asset_ids) else None
        if asset_id is None or asset_id not in project.assets:
            asset = sampled_asset(latent_map, index)
            commands.append(AddAsset(asset))
            asset_id = asset.id
        ids.append(asset_id)
    commands += [RemoveKeyframe(ANCHOR_TRACK, key.time) for key in project.anchors]
    times = np.linspace(0.0, project.settings.duration, len(ids))
    settings = project.settings
    frames = [min(settings.frame_count - 1, round(t * float(settings.rate))) for t in times]
    if len(set(frames)) < len(frames):
        raise UserError(f"The timeline has {settings.frame_count} frames, too few for {len(ids)} faces; draw a "
                        "shorter path or lengthen the timeline.")
    commands += [AddKeyframe(ANCHOR_TRACK, Keyframe(settings.frame_time(f), asset_id, Interpolation.EASE_IN_OUT))
                 for f, asset_id in zip(frames, ids, strict=True)]
    return Batch(commands, "Faces along a path")


def build_map(model: LoadedModel, project: Project, samples: int, *, method: str = "pca", space: str = "pictures",
              steps: int | None = None, progress: Callable[[int, int], None] | None = None,
              cancel: CancelToken | None = None) -> LatentMap:
    assets = list(project.assets.values())
    seeds = [SAMPLE_SEEDS_FROM + i for i in range(samples)]
    latents = np.stack([a.latent for a in assets] + [noise_latent(s, model.latent_shape) for s in seeds])
    if steps is None:  # the draft decoder's one pass when the model has one: ten times faster than preview steps
        steps = DRAFT_PASS if model.draft is not None else project.settings.preview_steps
    images = decode(model, latents, steps, progress=progress, cancel=cancel,
                    conditioning=project_conditioning(model, project.settings))
    features = picture_features(images) if space == "pictures" else bottleneck_features(model, latents, cancel=cancel)
    return LatentMap(project_2d(features, method), images, [a.name for a in assets] + [None] * samples,
                     [None] * len(assets) + seeds, [a.id for a in assets] + [None] * samples, latents,
                     model.content_hash, method, features)


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
