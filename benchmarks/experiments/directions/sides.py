"""Issue 14, Asperti et al.'s separate left and right lines: the head turn fitted and calibrated on each side of
0 degrees apart (binned-centroid regression on the yaw >= 0 and <= 0 bins), decoded beside the source as shipped,
against the shipped single line on the same held-out heads.

    HEADS=8 IDENTITIES=20 python benchmarks/experiments/directions/sides.py
"""
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import bench_directions as bench  # noqa: E402

import latent_studio.demo.evaluation as evaluation  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.direction_fitting import Plan, calibrate, default_plans, stratified_renders  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.regressor import load_regressor  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import binned_direction, embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402

HEADS, IDENTITIES, STEPS = int(os.environ.get("HEADS", 8)), int(os.environ.get("IDENTITIES", 20)), 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
shipped = next(d for d in model_directions(model) if d.name == "Head turn")
plan = dataclasses.replace(default_plans()[0], identities=IDENTITIES)
images, values = stratified_renders(plan, model.image_size[-1])
print(f"embedding {len(images)} stratified renders ({IDENTITIES} identities x {len(plan.levels)} yaws)", flush=True)
cache = Path(os.environ.get("CACHE", "/tmp/sides_latents.npy"))
if cache.is_file():
    latents = np.load(cache)
else:
    latents = embed_images(model, images, STEPS, fixed_point_iterations=1, clamp_iterations=0)
    np.save(cache, latents)
if os.environ.get("ONLY_FIT"):
    from latent_studio.core.directions import fit_binned_direction
    full = fit_binned_direction(latents, values, 13)
    for side, keep in (("right", values >= 0), ("left", values <= 0)):
        fit = fit_binned_direction(latents[keep], values[keep], 7)
        cos = lambda a, b: float(np.vdot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
        print(side, fit.r2, fit.bin_centres, fit.counts, "norm", np.linalg.norm(fit.direction),
              "cos full", cos(fit.direction, full.direction), "cos shipped", cos(fit.direction, shipped.vector))
    print("full", full.r2, np.linalg.norm(full.direction), cos(full.direction, shipped.vector))
    sys.exit()
sides = {}
for side, keep, strengths in (("right", values >= 0, (0.0, 30.0)), ("left", values <= 0, (-30.0, 0.0))):
    line = binned_direction("Head turn", latents[keep], values[keep], model.content_hash, strength_range=(-60.0, 60.0),
                            unit="degrees", bins=len(np.unique(values[keep])))
    heads = latents[values == 0.0][:16]
    side_plan = Plan("yaw", plan.levels, IDENTITIES, 0.0, strengths)
    sides[side] = calibrate(model, regressor, line, side_plan, heads, STEPS, source_attention_from=0.0).vector
    print(f"{side}: {sides[side].shape}, calibration {line.info} -> norm {np.linalg.norm(sides[side]):.3f}", flush=True)
cosine = float(np.vdot(sides["left"], sides["right"]) / np.linalg.norm(sides["left"]) / np.linalg.norm(sides["right"]))
print(f"cosine(left, right) = {cosine:.3f}; shipped norm {np.linalg.norm(shipped.vector):.3f}", flush=True)

original = evaluation.read_along


def read_along_sides(model, regressor, heads, vector, strengths, steps, **kw):
    """Each strength along the line of its side."""
    rows = [original(model, regressor, heads, sides["right"] if s > 0 else sides["left"], [s], steps, **kw)
            for s in strengths]
    return np.concatenate(rows, axis=0)


batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held = embed_images(model, batch.images, STEPS)
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
for name in ("shipped line", "left and right lines"):
    evaluation.read_along = original if name == "shipped line" else read_along_sides
    table = direction_table(model, regressor, held, shipped, "yaw", sizes)
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:3]
    if name == "shipped line":
        gt = bench.ground_truth(model, regressor, held, batch.factors, batch.identities, shipped, STEPS, 32)
    else:  # the same measure, -45 on the left line and +45 on the right one
        gts = []
        for side, target in (("left", -45.0), ("right", 45.0)):
            bench.GROUND_TRUTH_STRENGTHS = (target,)
            gts.append(bench.ground_truth(model, regressor, held, batch.factors, batch.identities,
                                          dataclasses.replace(shipped, vector=sides[side]), STEPS, 32))
        gt = np.mean(gts, axis=0)
    print(f"{name:<22}|r| {abs(table.pearson_r):.3f} span {table.span:6.1f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{k} {v:.1f}%' for k, v in worst)}  yaw {np.round(table.means[:, 0], 1).tolist()}  "
          f"GT {gt[0]:.2f} dB / {gt[1]:.3f}", flush=True)
print(f"{time.perf_counter() - started:.0f} s")
