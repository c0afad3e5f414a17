"""The example projects shipped in resources/examples/, made from held-out renders embedded in the demo model.

head_turn.lsproj: one face turning left, right and back to the front (the
shipped head-turn direction, eased keyframes). morph.lsproj: three faces,
one after another, joined by eased slerps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latent_studio.app.projects import embedded_asset, empty_project, place_anchors
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import Asset, Project, Settings
from latent_studio.core.project_file import save_project
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.factors import HeadFactors
from latent_studio.demo.heads import render_batch
from latent_studio.engine.models import LoadedModel

EXAMPLE_SETTINGS = Settings(fps="24", duration=4.0, width=256, height=256, upscale="lanczos", preview_steps=10, final_steps=50)
EASE = Interpolation.EASE_IN_OUT


def embedded_head(model: LoadedModel, pixels: np.ndarray, name: str, steps: int) -> Asset:
    return embedded_asset(model, pixels, name, f"{name}.png (toy-head render)", steps)


def head_turn(model: LoadedModel, steps: int = 50) -> Project:
    project = empty_project(model, EXAMPLE_SETTINGS)
    face = HeadFactors(yaw=0.0, pitch=0.0, smile=0.5, eye_open=0.85, glasses=0.0, hair_hue=0.07, hair_length=0.6,
                       skin_tone=0.35, background_hue=0.58, light_angle=-25.0)
    pixels = render_batch([face], [2**31 + 12345], model.image_size[-1])[0]
    asset = embedded_head(model, pixels, "Ada", steps)
    project.assets[asset.id] = asset
    place_anchors(project, [asset.id])
    turn = next((d for d in project.directions.values() if d.name == "Head turn"), None)
    if turn is None:
        raise UserError(f"Model '{model.source.spec}' has no 'Head turn' direction; run `latent-studio fit-demo-directions`.")
    project.editable_track(turn.id).keyframes = (
        Keyframe(0.0, 0.0, EASE), Keyframe(1.0, -45.0, EASE), Keyframe(3.0, 45.0, EASE), Keyframe(4.0, 0.0, EASE),
    )
    return project


def morph(model: LoadedModel, steps: int = 50) -> Project:
    project = empty_project(model, EXAMPLE_SETTINGS)
    batch = rendered_batch(4242, HELD_OUT_STREAM, 0, model.image_size[-1], 3)
    ids = []
    for pixels, name in zip(batch.images, ("Bea", "Cal", "Dev"), strict=True):
        asset = embedded_head(model, pixels, name, steps)
        project.assets[asset.id] = asset
        ids.append(asset.id)
    place_anchors(project, ids, EASE)
    return project


def write_examples(model: LoadedModel, folder: Path, steps: int = 50) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "head_turn.lsproj", folder / "morph.lsproj"]
    save_project(head_turn(model, steps), paths[0])
    save_project(morph(model, steps), paths[1])
    return paths
