"""What the direction experiments share: the held-out heads they push, one printed row of the harness, and a grid
of the example projects' faces edited.

The bench's heads are bench_directions.py's (a batch of HEADS from EVALUATION_SEED + 2); with SET=evaluate they
are evaluate-demo's (the first HEADS of its 100 held-out renders from the same seed: other identities). Their
latents are cached in /tmp, so a second run skips the embedding.
"""
import os
import time

import numpy as np

from latent_studio.core.directions import apply_directions
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, DirectionTable
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.source_attention import decode_edits
from latent_studio.media.images import save_png


def held_heads(model, heads: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The heads' latents and which of them wear glasses."""
    drawn = 100 if os.environ.get("SET") == "evaluate" else heads  # evaluate-demo draws 100 and pushes the first 50
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], drawn)
    cache = f"/tmp/held_{drawn}_{heads}.npy"
    latents = np.load(cache) if os.path.isfile(cache) else embed_images(model, batch.images[:heads], steps)
    np.save(cache, latents)
    return latents, batch.factors[:heads, FACTOR_NAMES.index("glasses")] > 0.5


def print_row(label: str, table: DirectionTable, started: float, curve: str) -> None:
    """The harness's row, the ``curve`` factor's mean (or, for another factor, its drift) per strength, and the
    glasses change per group."""
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    print(f"{label}  |r| {abs(table.pearson_r):.3f} span {table.span:.3f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  {time.perf_counter() - started:.0f} s", flush=True)
    if curve == table.factor:
        print(f"   {curve} {np.round(table.means[:, FACTOR_NAMES.index(curve)], 2)}", flush=True)
    else:
        print(f"   {curve} drift % {np.round(table.drift_curves[curve], 1)}", flush=True)
    for group, values in table.glasses_by_group.items():
        print(f"   glasses |change| {group}: {np.round(values, 1)}", flush=True)


def example_faces() -> list[tuple[str, np.ndarray]]:
    """The example projects' faces (head turn, then morph): name and latent."""
    faces = []
    for name in ("head_turn", "morph"):
        faces += [(a.name, a.latent) for a in load_project(resources_dir() / "examples" / f"{name}.lsproj").assets.values()]
    return faces


def example_grid(model, path: str, directions_for, strengths, steps: int) -> list[str]:
    """A row per example face: the face, then each direction ``directions_for(latent)`` gives at each strength,
    decoded beside the face (as the smile ships); written to ``path``. Returns the faces' names."""
    faces = example_faces()
    edits, source_of = [], []
    for i, (_, latent) in enumerate(faces):
        row = [latent] + [apply_directions(latent, [(d, s)]) for d in directions_for(latent) for s in strengths]
        edits += row
        source_of += [i] * len(row)
    pictures = decode_edits(model, np.stack(edits), np.stack([f for _, f in faces]), source_of, 0.0, steps)
    per = len(edits) // len(faces)
    save_png(path, np.concatenate([np.concatenate(list(pictures[i * per:(i + 1) * per]), axis=1)
                                   for i in range(len(faces))], axis=0))
    return [name for name, _ in faces]
