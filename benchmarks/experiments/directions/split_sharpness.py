"""Issue 14: how sharply the head turn's split blends its two lines, on the shipped lines and probe.

    KS=1,2,4,8 python benchmarks/experiments/directions/split_sharpness.py

K is the blend's logits per pooled standard deviation of the probe's reading (core.directions.SPLIT_SHARPNESS);
the shipped file's softness is rescaled to each K, the lines are left as fitted. 50 held-out heads, beside the
source as shipped; add GT=1 for the ground-truth measure at +-45 degrees.
"""
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import bench_directions as bench  # noqa: E402

from latent_studio.core.directions import SPLIT_SHARPNESS  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.regressor import load_regressor  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402

HEADS, STEPS = int(os.environ.get("HEADS", 50)), 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
turn = next(d for d in model_directions(model) if d.name == "Head turn")
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held = embed_images(model, batch.images, STEPS, batch=32)
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
for k in (float(x) for x in os.environ.get("KS", "1,2,4,8").split(",")):
    split = dataclasses.replace(turn.split, softness=turn.split.softness * SPLIT_SHARPNESS / k)
    direction = dataclasses.replace(turn, split=split)
    table = direction_table(model, regressor, held, direction, "yaw", sizes)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    gt = (bench.ground_truth(model, regressor, held, batch.factors, batch.identities, direction, STEPS, 32)
          if os.environ.get("GT") else (float("nan"), float("nan")))
    print(f"K={k:g}  |r| {abs(table.pearson_r):.3f} span {table.span:.1f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  GT {gt[0]:.2f} dB / {gt[1]:.3f}  "
          f"{time.perf_counter() - started:.0f} s", flush=True)
