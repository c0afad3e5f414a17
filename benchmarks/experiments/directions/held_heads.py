"""What smile_span.py and eye_restore.py share: the held-out heads they push and one printed row of the harness.

The bench's heads are bench_directions.py's (a batch of HEADS from EVALUATION_SEED + 2); with SET=evaluate they
are evaluate-demo's (the first HEADS of its 100 held-out renders from the same seed: other identities). Their
latents are cached in /tmp, so a second run skips the embedding.
"""
import os
import time

import numpy as np

from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, DirectionTable
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.engine.discovery import embed_images


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
