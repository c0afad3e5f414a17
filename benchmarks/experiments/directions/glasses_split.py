"""Issue 14, the head turn split by glasses: one line fitted on renders without glasses and one on renders with
them (every identity at every yaw both ways), each calibrated on its own side's heads, decoded beside the source.
Each held-out head is turned by its own blend of the two lines, chosen by the true label (oracle) or by the
split's latent probe as the app chooses it (probe); the shipped method is the probe.

    HEADS=50 CACHE=/tmp/split_latents.npy python benchmarks/experiments/directions/glasses_split.py
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
from latent_studio.core.directions import fit_direction_split  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.direction_fitting import calibrate, default_plans, split_present, stratified_renders  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.factors import FACTOR_NAMES  # noqa: E402
from latent_studio.demo.regressor import load_regressor  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
shipped = next(d for d in model_directions(model) if d.name == "Head turn")
plan = default_plans()[0]
images, values = stratified_renders(plan, model.image_size[-1])
present = split_present(plan)
cache = Path(os.environ.get("CACHE", "/tmp/split_latents.npy"))
if cache.is_file():
    latents = np.load(cache)
else:
    latents = embed_images(model, images, STEPS, fixed_point_iterations=1, clamp_iterations=0)
    np.save(cache, latents)
split = fit_direction_split(latents, values, present, "Glasses", bins=13)
lines = []
for vector, side in ((split.absent, ~present), (split.present, present)):
    line = dataclasses.replace(shipped, vector=vector, split=None)
    lines.append(calibrate(model, regressor, line, plan, latents[side & (values == 0.0)][:16], STEPS,
                           source_attention_from=0.0).vector)
split = dataclasses.replace(split, absent=lines[0], present=lines[1])
print(f"fitted and calibrated in {time.perf_counter() - started:.0f} s", flush=True)

batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held = embed_images(model, batch.images, STEPS)
truth = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5
probe = np.array([split.presence(h) for h in held])
print(f"probe reads glasses right on {np.mean((probe > 0.5) == truth):.0%} of {HEADS} held-out heads", flush=True)
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
original = evaluation.read_along
for name, weights in (("oracle", truth.astype(float)), ("probe", probe)):
    # a split whose probe reads each head as `weights` says: its blend of the two lines
    def read_along(model, regressor, heads, direction, strengths, steps, **kw):
        rows = [original(model, regressor, heads[i:i + 1], (1 - w) * split.absent + w * split.present, strengths, steps, **kw)
                for i, w in enumerate(weights)]
        return np.concatenate(rows, axis=1)
    evaluation.read_along = read_along
    table = direction_table(model, regressor, held, shipped, "yaw", sizes)
    gts = [bench.ground_truth(model, regressor, held[i:i + 1], batch.factors[i:i + 1], batch.identities[i:i + 1],
                              dataclasses.replace(shipped, split=None, vector=(1 - w) * split.absent + w * split.present),
                              STEPS, 32) for i, w in enumerate(weights)]
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    print(f"{name:<8}|r| {abs(table.pearson_r):.3f} span {table.span:6.1f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{k} {v:.1f}%' for k, v in worst)}  GT {np.mean([g[0] for g in gts]):.2f} dB / "
          f"{np.mean([g[1] for g in gts]):.3f}  {time.perf_counter() - started:.0f} s", flush=True)
