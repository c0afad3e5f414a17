"""Issue 14: the hair hue split by glasses as the head turn is (one line without glasses, one with, each
calibrated on its own side), against the shipped line, on the same held-out heads (plain decode, as shipped).

    HEADS=50 python benchmarks/experiments/directions/hue_split.py
"""
import dataclasses
import os
import time

from latent_studio.core.resources import resources_dir
from latent_studio.demo import direction_fitting
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
directions = {d.name: d for d in model_directions(model)}
plans = direction_fitting.default_plans


def split_hue(scale: float = 1.0):
    return [dataclasses.replace(p, split_by="glasses") if p.factor == "hair_hue" else p for p in plans(scale)]


direction_fitting.default_plans = split_hue
split = direction_fitting.fit_demo_directions(model, STEPS, regressor=regressor, only=["Hair hue"],
                                              present=directions)[0]
print(f"fitted in {time.perf_counter() - started:.0f} s: {split.info}", flush=True)
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held = embed_images(model, batch.images, STEPS, batch=32)
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
for name, direction in (("shipped line", directions["Hair hue"]), ("split by glasses", split)):
    table = direction_table(model, regressor, held, direction, "hair_hue", sizes)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:3]
    print(f"{name:<18}|r| {abs(table.pearson_r):.3f} span {table.span:.3f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{k} {v:.1f}%' for k, v in worst)}  {time.perf_counter() - started:.0f} s", flush=True)
