"""The demo model's shipped directions, found by the project's own discovery.

Each direction is fitted on renders in which only its factor varies within
an identity: every identity is rendered at every level of the factor (other
factors random but fixed per identity), so each bin holds the same people
and the bin centroids differ by the factor alone. That is method (a) of
``core.directions`` with a stratified sample, which needs far fewer
embeddings for a clean direction than independent random renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from latent_studio.core.cancel import CancelToken
from latent_studio.core.directions import Direction, orthogonalise, save_direction
from latent_studio.demo.factors import HeadFactors, sample_factors
from latent_studio.demo.heads import render_batch
from latent_studio.engine.discovery import binned_direction, difference_direction, embed_images
from latent_studio.engine.models import LoadedModel

# Identities for direction fitting come from their own seed, apart from training and held-out renders.
DISCOVERY_SEED = 20231


@dataclass(frozen=True)
class Plan:
    """How many identities, at how many levels of each factor."""

    factor: str
    levels: tuple[float, ...]
    identities: int


def default_plans(scale: float = 1.0) -> list[Plan]:
    def count(n: int) -> int:
        return max(2, round(n * scale))

    return [
        Plan("yaw", tuple(np.linspace(-60, 60, 13)), count(40)),
        Plan("smile", tuple(np.linspace(-1, 1, 9)), count(24)),
        Plan("glasses", (0.0, 1.0), count(60)),
        Plan("hair_hue", tuple(np.linspace(0.0, 0.6, 7)), count(24)),
    ]


def stratified_renders(plan: Plan, size: int, seed: int = DISCOVERY_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Every identity at every level: images (N, S, S, 3) and the factor value of each."""
    rng = np.random.default_rng([seed, sum(map(ord, plan.factor))])
    people: list[HeadFactors] = sample_factors(rng, plan.identities)
    identities = rng.integers(0, 2**31, plan.identities).tolist()
    factors, ids, values = [], [], []
    for person, identity in zip(people, identities, strict=True):
        for level in plan.levels:
            factors.append(person.replace(**{plan.factor: float(level)}))
            ids.append(identity)
            values.append(float(level))
    return render_batch(factors, ids, size), np.array(values, np.float32)


def fit_demo_directions(
    model: LoadedModel,
    steps: int,
    *,
    scale: float = 1.0,
    fixed_point_iterations: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[Direction]:
    """Yaw (degrees), smile and hair hue (factor units) by binned regression; glasses by mean difference.

    Smile, glasses and hair hue are orthogonalised against yaw, so that the
    strongest direction does not leak into the others.
    """
    size = model.latent_shape[-1]
    latents: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for plan in default_plans(scale):
        images, values = stratified_renders(plan, size)
        embedded = embed_images(model, images, steps, fixed_point_iterations=fixed_point_iterations, cancel=cancel,
                                progress=(lambda done, total, name=plan.factor: progress(name, done, total)) if progress else None)
        latents[plan.factor] = (embedded, values)
    h = model.content_hash
    yaw = binned_direction("Head turn", *latents["yaw"], h, strength_range=(-60.0, 60.0), unit="degrees", bins=13)
    smile = binned_direction("Smile", *latents["smile"], h, strength_range=(-1.0, 1.0), bins=9)
    glasses_latents, glasses_values = latents["glasses"]
    glasses = difference_direction("Glasses", glasses_latents, glasses_values > 0.5, h)
    hue = binned_direction("Hair hue", *latents["hair_hue"], h, strength_range=(-0.3, 0.3), unit="hue turns", bins=7)
    others = [smile, glasses, hue]
    cleaned = [_replace_vector(d, orthogonalise(d.vector, [yaw.vector]), "orthogonalised to Head turn") for d in others]
    return [yaw, *cleaned]


def _replace_vector(direction: Direction, vector: np.ndarray, note: str) -> Direction:
    info = dict(direction.info, note=note)
    return Direction(direction.name, vector, direction.method, direction.strength_range, direction.model_hash,
                     direction.unit, info)


def file_name(index: int, direction: Direction) -> str:
    """Numbered, so the model's directions list in the order they were fitted (head turn first)."""
    return f"{index:02d}_" + direction.name.lower().replace(" ", "_") + ".safetensors"


def save_directions(folder: Path, directions: list[Direction]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, direction in enumerate(directions, start=1):
        path = folder / file_name(index, direction)
        save_direction(path, direction)
        paths.append(path)
    return paths
