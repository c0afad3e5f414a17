"""Issue 14: the head turn's keep at other sizes and bare shares, now that the split reads glasses with the
discriminant probe (the keep's KEEP_GAIN 1.3 and KEEP_BARE 0.25 were chosen with the mean-difference probe).

Each run "S:B" scales the shipped keep by S (1 = shipped) and takes B of it off heads the probe reads as bare;
the head turn is decoded beside its source, as shipped, through the harness, with the ground truth at +-45 degrees.

    HEADS=50 RUNS=0.7:0.25,1.3:0.25 python benchmarks/experiments/directions/keep_retune.py
"""
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench_directions import ground_truth  # noqa: E402

from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.factors import FACTOR_NAMES  # noqa: E402
from latent_studio.demo.regressor import load_regressor  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
RUNS = [tuple(float(x) for x in run.split(":")) for run in os.environ.get("RUNS", "0.7:0.25,1.3:0.25").split(",")]
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
turn = {d.name: d for d in model_directions(model)}["Head turn"]
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held_cache = f"/tmp/held_{HEADS}.npy"
held = np.load(held_cache) if os.path.isfile(held_cache) else embed_images(model, batch.images, STEPS)
np.save(held_cache, held)
wearing = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5

for scale, bare in RUNS:
    keep = turn.split.keep
    keep = dataclasses.replace(keep, base=keep.base * scale, slope=keep.slope * scale, curve=keep.curve * scale, bare=bare)
    variant = dataclasses.replace(turn, split=dataclasses.replace(turn.split, keep=keep))
    table = direction_table(model, regressor, held, variant, "yaw", Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32),
                            wearing=wearing)
    gt = ground_truth(model, regressor, held, batch.factors, batch.identities, variant, STEPS, 32)
    print(f"keep x{scale:g}, bare {bare:g}: |r| {abs(table.pearson_r):.3f} span {table.span:.1f} monotonic {table.monotonic}; "
          f"GT {gt[0]:.2f} dB / {gt[1]:.3f}", flush=True)
    print("   drift % " + ", ".join(f"{k} {v:.1f}" for k, v in table.drift_percent.items()), flush=True)
    for group, curve in table.glasses_by_group.items():
        print(f"   glasses |change| % {group}: " + " ".join(f"{v:.1f}" for v in curve) + f"  (mean {np.mean(np.delete(curve, 4)):.1f})",
              flush=True)
