"""Issue 14: the smile holding glasses with the head turn's keep (core.directions.DirectionHold), as the hair hue
ships. The smile gives bare heads glasses as it widens (evaluate-demo's per-group figures: 27% at +1) and takes
16.5% from heads with glasses at -0.5. Each run "G:B" lends the shipped head turn's keep at gain G, with B of it
taken off heads the probe reads as bare; decoded beside the source, as the smile ships. Prints the harness's
row and the glasses change per group.

    HEADS=50 RUNS=0:0.25,0.3:0.25,0.3:1 python benchmarks/experiments/directions/smile_hold.py
"""
import os
import time
from dataclasses import replace

import numpy as np

from latent_studio.core.directions import lend_hold
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
RUNS = [tuple(float(x) for x in run.split(":")) for run in os.environ.get("RUNS", "0:0.25,0.3:0.25").split(",")]
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
directions = {d.name: d for d in model_directions(model)}
turn, smile = directions["Head turn"], directions["Smile"]
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held_cache = f"/tmp/held_{HEADS}.npy"
held = np.load(held_cache) if os.path.isfile(held_cache) else embed_images(model, batch.images, STEPS)
np.save(held_cache, held)
wearing = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5
reach = max(abs(x) for x in smile.strength_range)

for gain, bare in RUNS:
    held_smile = smile
    if gain:
        held_smile = replace(smile, hold=lend_hold(turn, reach=reach, gain=gain, bare=bare))
    table = direction_table(model, regressor, held, held_smile, "smile", Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32),
                            wearing=wearing)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    print(f"gain {gain:g} bare {bare:g}  |r| {abs(table.pearson_r):.3f} span {table.span:.3f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  {time.perf_counter() - started:.0f} s", flush=True)
    print(f"   strengths {np.round(table.strengths, 2)}", flush=True)
    for group, curve in table.glasses_by_group.items():
        print(f"   glasses |change| {group}: {np.round(curve, 1)}", flush=True)
