"""Making projects: from images and seeds, with the model's own directions on the sliders."""

from __future__ import annotations

from dataclasses import replace
from itertools import zip_longest
from pathlib import Path
from typing import Callable

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import Direction, DirectionFileError
from latent_studio.core.edits import AddKeyframe, ChangeKeyframe
from latent_studio.core.errors import UserError
from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.latent_math import arithmetic
from latent_studio.core.metrics import out_of_domain_sentence
from latent_studio.core.project import ANCHOR_TRACK, Asset, ModelRef, Project, Settings, StrengthTrack, new_id, snapshot
from latent_studio.core.project_file import MAX_PHOTO_BYTES, direction_digest
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.conditioning import conditioned_model, project_conditioning
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import difference_direction
from latent_studio.engine.edit_method import TRIAL_FACES, choose_edit_method
from latent_studio.engine.embedding import embed
from latent_studio.engine.models import LoadedModel
from latent_studio.media.face_align import FaceLandmarks, align_file
from latent_studio.media.images import encode_png, load_prepared

THUMBNAIL_STEPS = 20


def empty_project(model: LoadedModel, settings: Settings | None = None) -> Project:
    """A project on ``model`` with every direction the model ships, each on its own slider."""
    project = Project(ModelRef(model.source.spec, model.content_hash), settings or Settings())
    for direction in model_directions(model):
        entry = direction_entry(direction, origin="model")
        project.directions[entry.id] = entry
    return project


def model_mismatch(project: Project, model: LoadedModel, name: str = "This project") -> str | None:
    """The one sentence for a project made with other weights than the loaded model's (None when they match).

    Such a project still opens and renders; its latents just give other pictures. The app
    and the CLI say it the same way, each adding how to switch models.
    """
    made_with = project.model
    if not made_with.content_hash or made_with.content_hash == model.content_hash:
        return None
    return (f"{name} was made with model {made_with.spec} ({made_with.content_hash[:12]}); the loaded model "
            f"{model.source.spec} ({model.short_hash}) gives different pictures for the same latents.")


def outdated_model_directions(project: Project, model: LoadedModel) -> list[Direction]:
    """The model's directions the project holds an older copy of, as the replacements for their sliders.

    A project copies its model's directions when it is made, so that it renders the same for ever; when the
    model's directions are refit later (a head turn that keeps glasses), the project still has the old ones.
    Only directions from the model whose unit is unchanged are offered (a strength keeps its meaning), and
    none for a project made with other weights, or when the model's direction files cannot be read (a new
    project says why; opening or rendering this one must not fail on it).
    """
    if project.model.content_hash and project.model.content_hash != model.content_hash:
        return []
    try:
        shipped = {d.name: d for d in model_directions(model)}
    except DirectionFileError:
        return []
    newer = []
    for direction in project.directions.values():
        current = shipped.get(direction.name)
        if direction.origin != "model" or current is None or current.unit != direction.unit:
            continue
        replacement = replace(current, id=direction.id, origin="model")
        if direction_digest(replacement) != direction_digest(direction):
            newer.append(replacement)
    return newer


def update_offer(directions: list[Direction], name: str = "This project") -> str:
    """The sentence that offers ``outdated_model_directions``' replacements."""
    names = ", ".join(d.name for d in directions)
    return (f"{name} has older copies of the model's directions ({names}) than the model now ships. Update them? "
            "Keyframes stay where they are; the frames they give change, and Undo puts the old directions back.")


def hold_strengths(project: Project, settings: list[tuple[str, float]]) -> Project:
    """A copy of the project with each named direction (by name or id) held at a constant strength.

    For scripting and for checking a direction without the app (`render --set`); the
    keyframes of those tracks are left out of the copy, the original is untouched.
    """
    held = snapshot(project)
    for name, strength in settings:
        matches = [d for d in project.directions.values() if d.id == name or d.name.casefold() == name.casefold()]
        if not matches:
            names = ", ".join(f"'{d.name}'" for d in project.directions.values()) or "none"
            raise UserError(f"The project has no direction named '{name}'; its directions: {names}.")
        low, high = matches[0].strength_range
        if not low <= strength <= high:
            unit = f" {matches[0].unit}" if matches[0].unit else ""
            raise UserError(f"{matches[0].name}={strength:g} is outside its range, {low:g} to {high:g}{unit}, the "
                            "range its slider has and its strength was calibrated over; give a value in it.")
        held.strengths[matches[0].id] = StrengthTrack(base=float(strength))
    return held


def embedding_steps_note(project: Project, steps: int) -> str | None:
    """One sentence when frames at ``steps`` will not look like the photos on the timeline: an inversion fits only
    the number of DDIM steps it was made with, and decoded at another its face changes (a colour shift, another
    person at 10 or 20 steps for 50)."""
    on_timeline = {k.value for k in project.anchors}
    others = sorted({(a.metadata["steps"], a.name) for a in project.assets.values()
                     if a.id in on_timeline and a.kind == "image" and a.metadata.get("steps", str(steps)) != str(steps)})
    if not others:
        return None
    names = ", ".join(f"{name} ({made})" for made, name in others)
    return (f"At {steps} steps, photos embedded at other steps will not look like themselves: {names}. Render at "
            "the steps they were embedded at, or embed them again at these.")


def _thumbnail(model: LoadedModel, latent: np.ndarray, steps: int, settings: Settings | None) -> bytes:
    """The latent decoded as the project renders it (under its prompt, if it has one), as PNG bytes."""
    conditioning = None if settings is None else project_conditioning(model, settings)
    return encode_png(decode(model, latent, steps, conditioning=conditioning)[0])


def direction_entry(direction: Direction, origin: str) -> Direction:
    """The direction as it sits on a project's slider: with an id made from its name, and where it came from."""
    slug = "".join(c if c.isalnum() else "_" for c in direction.name.lower()).strip("_") or "direction"
    return replace(direction, id=f"{slug}_{direction.model_hash[:6]}", origin=origin)


def seed_asset(model: LoadedModel, seed: int, steps: int = THUMBNAIL_STEPS, settings: Settings | None = None) -> Asset:
    latent = noise_latent(seed, model.latent_shape)
    thumbnail = _thumbnail(model, latent, steps, settings)
    return Asset(new_id(), "seed", f"Seed {seed}", latent, f"seed {seed}", seed=seed, thumbnail=thumbnail)


def image_asset(
    model: LoadedModel,
    path: Path,
    steps: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    settings: Settings | None = None,
    landmarks: FaceLandmarks | None = None,
) -> Asset:
    """Embed an image file (crop to the model's square) and keep its reconstruction as the thumbnail.

    With ``landmarks`` (the eyes and the mouth), the face is aligned FFHQ-style instead of centre-cropped, the
    alignment is kept in the asset's metadata and the photo file with the asset (paste-back composites into it).
    With the project's ``settings``, it is inverted under the project's prompt and guidance (fixed-point inversion
    of the guided map), so that it reconstructs as the project will render it.
    """
    height, _ = model.image_size
    photo = None
    if landmarks is None:
        prepared = load_prepared(path, height, "crop", (255, 255, 255))
        pixels, metadata = prepared.pixels, {k: str(v) for k, v in prepared.preparation.as_metadata().items()}
    else:
        pixels, alignment = align_file(path, landmarks, height)
        metadata = alignment.as_metadata()
        photo = Path(path).read_bytes()  # kept whole: paste-back composites the animated face into it
    if settings is not None and settings.conditioned:
        model = conditioned_model(model, project_conditioning(model, settings))
        metadata.update(prompt=settings.prompt, negative_prompt=settings.negative_prompt, guidance=f"{settings.guidance:g}")
    asset = embedded_asset(model, pixels, Path(path).stem, Path(path).name, steps, metadata,
                           progress=progress, cancel=cancel)
    if photo is not None and len(photo) <= MAX_PHOTO_BYTES:
        asset.photo = photo
    return asset


def embedded_asset(
    model: LoadedModel,
    pixels: np.ndarray,
    name: str,
    source: str,
    steps: int,
    metadata: dict[str, str] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> Asset:
    """Embed prepared pixels; the reconstruction becomes the thumbnail, its PSNR and the original are kept."""
    result = embed(model, pixels, steps, progress=progress, cancel=cancel)
    extra = {"steps": str(steps)}
    warning = out_of_domain_sentence(result.psnr, result.stats, model.source.spec)
    if warning:
        extra["out_of_domain"] = warning
    return Asset(new_id(), "image", name, result.latent, source, psnr=round(result.psnr, 2),
                 thumbnail=encode_png(result.reconstruction), metadata={**(metadata or {}), **extra},
                 original=encode_png(pixels))


def place_anchors(project: Project, asset_ids: list[str], interpolation: Interpolation = Interpolation.EASE_IN_OUT) -> None:
    """Spread the assets evenly over the timeline (one asset: held for the whole length)."""
    if not asset_ids:
        return
    times = np.linspace(0.0, project.settings.duration, len(asset_ids)) if len(asset_ids) > 1 else [0.0]
    project.anchors = tuple(Keyframe(float(t), a, interpolation) for t, a in zip(times, asset_ids, strict=True))


def place_face(project: Project, asset_id: str, t: float):
    """The edit that puts a face on the anchor track at time t: it replaces the face already keyed there."""
    if asset_id not in project.assets:
        raise UserError("That face is no longer in Assets; choose another.")
    if any(k.time == t for k in project.anchors):
        return ChangeKeyframe(ANCHOR_TRACK, t, {"value": asset_id}, "Replace anchor")
    return AddKeyframe(ANCHOR_TRACK, Keyframe(t, asset_id, Interpolation.EASE_IN_OUT), "Place face")


def direction_from_groups(project: Project, name: str, with_ids: list[str], without_ids: list[str]) -> Direction:
    """A user direction from two groups of assets: strength 1 moves by the difference of their means."""
    if not with_ids or not without_ids:
        raise UserError("Pick at least one asset for each group (with and without the feature).")
    if set(with_ids) & set(without_ids):
        raise UserError("An asset cannot be in both groups.")
    latents = np.stack([project.asset(i).latent for i in [*with_ids, *without_ids]])
    positive = np.array([True] * len(with_ids) + [False] * len(without_ids))
    direction = difference_direction(name.strip() or "New direction", latents, positive, project.model.content_hash,
                                     strength_range=(-1.5, 1.5))
    return replace(direction, id=f"user_{new_id()}", origin="user")


def choose_group_edit(model: LoadedModel, project: Project, direction: Direction, with_ids: list[str],
                      without_ids: list[str], *, cancel=None, progress=None) -> Direction:
    """The new direction decoding as a trial on the groups' own faces says: beside its source, or plainly."""
    ids = [i for pair in zip_longest(with_ids, without_ids) for i in pair if i is not None][:TRIAL_FACES]
    faces = np.stack([project.asset(i).latent for i in ids])
    return choose_edit_method(model, direction, faces, conditioning=project_conditioning(model, project.settings),
                              cancel=cancel, progress=progress)


def arithmetic_asset(model: LoadedModel, project: Project, a: str, b: str, c: str, steps: int = THUMBNAIL_STEPS) -> Asset:
    """A new face from latent arithmetic, ``a - b + c`` ("with glasses" - "without" + face)."""
    first, second, third = project.asset(a), project.asset(b), project.asset(c)
    latent = arithmetic(first.latent, second.latent, third.latent)
    name = f"{first.name} - {second.name} + {third.name}"
    thumbnail = _thumbnail(model, latent, steps, project.settings)
    return Asset(new_id(), "latent", name, latent, name, thumbnail=thumbnail)
