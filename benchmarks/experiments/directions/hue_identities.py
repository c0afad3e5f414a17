"""Issue 14: is the hair-hue direction's drift the noise of too few identities? The hue refitted as
fit-demo-directions fits it (binned-centroid regression over 7 hue levels, orthogonalised to the shipped head
turn, calibrated with the regressor) but on IDENTITIES identities instead of 24, against the shipped file, on the
same held-out heads, decoded plainly as shipped.

    IDENTITIES=72 HEADS=8 python benchmarks/experiments/directions/hue_identities.py
"""
import dataclasses
import os
import time

import numpy as np

from latent_studio.core.directions import orthogonalise
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.direction_fitting import calibrate, default_plans, stratified_renders
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import binned_direction, embed_images
from latent_studio.engine.models import load_model

HUE = FACTOR_NAMES.index("hair_hue")
HEADS, IDENTITIES, STEPS = int(os.environ.get("HEADS", 8)), int(os.environ.get("IDENTITIES", 72)), 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
shipped = {d.name: d for d in model_directions(model)}
plan = dataclasses.replace(next(p for p in default_plans() if p.factor == "hair_hue"), identities=IDENTITIES)
images, values = stratified_renders(plan, model.image_size[-1])
print(f"embedding {len(images)} stratified renders ({IDENTITIES} identities x {len(plan.levels)} hues)", flush=True)
latents = embed_images(model, images, STEPS, fixed_point_iterations=1, clamp_iterations=0)
line = binned_direction("Hair hue", latents, values, model.content_hash, strength_range=(-0.3, 0.3), unit="hue turns",
                        bins=len(plan.levels))
line = dataclasses.replace(line, vector=orthogonalise(line.vector, [shipped["Head turn"].vector]))
refit = calibrate(model, regressor, line, plan, latents[values == plan.calibration_level][:16], STEPS)
old = shipped["Hair hue"]
cosine = float(np.vdot(refit.vector, old.vector) / np.linalg.norm(refit.vector) / np.linalg.norm(old.vector))
print(f"refit {refit.info.get('calibration')}; norm {np.linalg.norm(refit.vector):.1f} (shipped "
      f"{np.linalg.norm(old.vector):.1f}), cosine with the shipped {cosine:.3f}", flush=True)
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held = embed_images(model, batch.images, STEPS)
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
for name, direction in (("shipped (24 identities)", old), (f"refit ({IDENTITIES} identities)", refit)):
    table = direction_table(model, regressor, held, direction, "hair_hue", sizes)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:3]
    print(f"{name:<26}|r| {abs(table.pearson_r):.3f} span {table.span:.3f} monotonic {table.monotonic}  drift "
          f"{', '.join(f'{k} {v:.1f}%' for k, v in worst)}  hue {np.round(table.means[:, HUE], 3).tolist()}", flush=True)
print(f"{time.perf_counter() - started:.0f} s")
