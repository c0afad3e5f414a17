"""Issue 14: the hair hue with the head turn's glasses keep. The hue edit takes glasses off heads that wear them
(evaluate-demo's per-group figures: 46% at -0.3, 32% at +0.3), though it does not move them, so a second line
has nothing to carry (`hue_split.py`). Here each hue edit by s also adds the shipped head turn's keep, read at
the head's own yaw (the hue does not turn it), as the turn adds it:

    comp = G * (w - bare (1 - w)) * |s| / 0.3 * k(v)

with w the head turn's glasses probe, v its yaw reading and k, bare the turn's keep. Decoded plain, as the hue
is shipped. Prints the harness's row and the glasses change per group.

    HEADS=50 GAINS=0,0.3,0.6 python benchmarks/experiments/directions/hue_keep.py
"""
import os
import time

import numpy as np

import latent_studio.demo.evaluation as evaluation
from latent_studio.core.latent_math import add_directions
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import load_regressor, predict
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
GAINS = [float(g) for g in os.environ.get("GAINS", "0,0.3").split(",")]
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
directions = {d.name: d for d in model_directions(model)}
turn, hue = directions["Head turn"], directions["Hair hue"]
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held_cache = f"/tmp/held_{HEADS}.npy"
held = np.load(held_cache) if os.path.isfile(held_cache) else embed_images(model, batch.images, STEPS)
np.save(held_cache, held)
wearing = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5
split, keep = turn.split, turn.split.keep
reach = max(abs(x) for x in hue.strength_range)


def edit(head: np.ndarray, s: float, gain: float) -> np.ndarray:
    terms = [(hue.vector, s)]
    if gain:
        w = split.presence(head)
        k = keep.change(split.position(head) - keep.reach, keep.reach)  # k(v): its whole vector at the head's own yaw
        terms.append(((gain * (w - keep.bare * (1 - w)) * abs(s) / reach * k).astype(np.float32), 1.0))
    return add_directions(head, terms)


for gain in GAINS:
    def read_along(model, regressor, heads, direction, strengths, steps, batch_size=32, **kw):
        edited = np.stack([edit(h, s, gain) for s in strengths for h in heads])
        return predict(regressor, decode(model, edited, steps, batch_size=batch_size)).reshape(len(strengths), len(heads), -1)
    evaluation.read_along = read_along
    table = direction_table(model, regressor, held, hue, "hair_hue", Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32),
                            wearing=wearing)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    print(f"gain {gain:g}  |r| {abs(table.pearson_r):.3f} span {table.span:.3f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  {time.perf_counter() - started:.0f} s", flush=True)
    for group, curve in table.glasses_by_group.items():
        print(f"   glasses |change| {group}: {np.round(curve, 1)}", flush=True)
