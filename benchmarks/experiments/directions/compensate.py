"""Issue 14: the shipped (split, bent) head turn plus a glasses compensation.

A turned head with glasses loses about a third of its glasses reading on the way: its own glasses sit in x_T's
fine structure, pinned to pixel positions, and fade as the face moves away from them. The split lines move the
glasses that the examples' centroids share, not that individual detail. Here the edit adds generic glasses at the
target yaw, growing with the distance turned, to replace what fades:

    comp = K * c(w) * grow(|s|) * |Glasses| * d(u_s + s) / |d(u_s + s)|

where d(u) is the mean with-minus-without latent of the 40 paired fitting identities at yaw u (fitted on 1, u,
u^2), grow(|s|) is |s| / 60 or min(1, |s| / N), w the split's glasses blend, c(w) = w (heads with glasses only), 2w - 1 (bare heads get the opposite) or w - X (1 - w) (kind bX),
and |Glasses| the shipped Glasses slider's length per unit. Prints the harness's row plus the glasses change per
group (mean |change| at each strength, % of the range).

    HEADS=50 RUNS=w:0,w:0.3,w:0.6,w:1:lin,pm:1:ramp30 python benchmarks/experiments/directions/compensate.py
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import bench_directions as bench  # noqa: E402

import latent_studio.demo.evaluation as evaluation  # noqa: E402
from latent_studio.core.latent_math import add_directions  # noqa: E402
from latent_studio.core.metrics import psnr  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.direction_fitting import default_plans, stratified_renders  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS, HeadFactors  # noqa: E402
from latent_studio.demo.heads import render_batch  # noqa: E402
from latent_studio.demo.regressor import features, load_regressor, predict  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402
from latent_studio.engine.source_attention import decode_edits  # noqa: E402

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
# kind (w or pm), gain, and how the compensation grows with |s|: lin (|s| / 60) or rampN (min(1, |s| / N))
RUNS = [(r.split(":") + ["lin"])[:3] for r in os.environ.get("RUNS", "w:0,w:0.3").split(",")]
RUNS = [(kind, float(gain), shape) for kind, gain, shape in RUNS]
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
directions = {d.name: d for d in model_directions(model)}
turn, glasses_length = directions["Head turn"], float(np.linalg.norm(directions["Glasses"].vector))
plan = default_plans()[0]
cache = Path(os.environ.get("CACHE", "/tmp/split_latents.npy"))
if cache.is_file():
    latents = np.load(cache)
else:
    images, _ = stratified_renders(plan, model.image_size[-1])
    latents = embed_images(model, images, STEPS, fixed_point_iterations=1, clamp_iterations=0)
    np.save(cache, latents)
levels = np.asarray(plan.levels) / 60.0
flat = latents.reshape(plan.identities, 2, len(levels), -1).astype(np.float64)
difference = (flat[:, 1] - flat[:, 0]).mean(0)  # (levels, D): what glasses add at each yaw
design = np.stack([np.ones_like(levels), levels, levels**2], 1)
d0, d1, d2 = np.linalg.lstsq(design, difference, rcond=None)[0]
print(f"glasses difference: |d0| {np.linalg.norm(d0):.1f} |d1| {np.linalg.norm(d1):.1f} |d2| {np.linalg.norm(d2):.1f}; "
      f"cos(d at -60, d at +60) {np.dot(d0 - d1 + d2, d0 + d1 + d2) / np.linalg.norm(d0 - d1 + d2) / np.linalg.norm(d0 + d1 + d2):.2f}; "
      f"cos(d at 0, Glasses) {np.dot(d0, directions['Glasses'].vector.reshape(-1)) / np.linalg.norm(d0) / glasses_length:.2f}",
      flush=True)

batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held_cache = Path(f"/tmp/held_{HEADS}.npy")
held = np.load(held_cache) if held_cache.is_file() else embed_images(model, batch.images, STEPS)
np.save(held_cache, held)
split = turn.split
weights = np.array([split.presence(h) for h in held])
source_u = np.array([((1 - w) * split.absent_bend.position(h) + w * split.present_bend.position(h)) / 60.0
                     for h, w in zip(held, weights, strict=True)])
has_glasses = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5


def edit(i: int, s: float, kind: str, gain: float, shape: str) -> np.ndarray:
    terms = turn.changes_for(held[i], s)
    if gain:
        u = source_u[i] + s / 60.0
        d = d0 + d1 * u + d2 * u * u
        # w: heads with glasses only; pm: bare heads get the opposite; bX: bare heads get X times the opposite
        c = {"w": weights[i], "pm": 2 * weights[i] - 1}.get(kind, weights[i] - (1 - weights[i]) * float(kind[1:] or 0))
        grow = abs(s) / 60.0 if shape == "lin" else min(1.0, abs(s) / float(shape[4:]))
        comp = gain * c * grow * glasses_length * d / np.linalg.norm(d)
        terms.append((comp.reshape(held[i].shape), 1.0))
    return add_directions(held[i], terms)


yaw = next(f for f in FACTORS if f.name == "yaw")
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
g = FACTOR_NAMES.index("glasses")
for kind, gain, shape in RUNS:
    reads = {}

    def read_along(model, regressor, heads, direction, strengths, steps, batch_size=32, **kw):
        edited = np.stack([edit(i, s, kind, gain, shape) for s in strengths for i in range(len(heads))])
        source_of = [i for _ in strengths for i in range(len(heads))]
        images = decode_edits(model, edited, held, source_of, 0.0, steps, batch_size=batch_size)
        reads["r"] = predict(regressor, images).reshape(len(strengths), len(heads), -1)
        return reads["r"]
    evaluation.read_along = read_along
    table = direction_table(model, regressor, held, turn, "yaw", sizes)
    edited = np.stack([edit(i, s, kind, gain, shape) for s in bench.GROUND_TRUTH_STRENGTHS for i in range(HEADS)])
    source_of = [i for _ in bench.GROUND_TRUTH_STRENGTHS for i in range(HEADS)]
    frames = decode_edits(model, edited, held, source_of, 0.0, STEPS, batch_size=32)
    truth = np.concatenate([render_batch([HeadFactors.from_array(f).replace(
        yaw=float(np.clip(f[FACTOR_NAMES.index("yaw")] + s, yaw.low, yaw.high))) for f in batch.factors],
        batch.identities.tolist(), model.latent_shape[-1]) for s in bench.GROUND_TRUTH_STRENGTHS])
    gt_db = np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=True)])
    gt_feat = np.mean(np.linalg.norm(features(regressor, frames) - features(regressor, truth), axis=1))
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    change = reads["r"][:, :, g] - reads["r"][len(reads["r"]) // 2, :, g]
    print(f"{kind} gain {gain:g} {shape}  |r| {abs(table.pearson_r):.3f} span {table.span:.1f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  GT {gt_db:.2f} dB / {gt_feat:.3f}  "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    print(f"   glasses |change| with glasses: {np.round(np.abs(change[:, has_glasses]).mean(1) * 100, 1)}", flush=True)
    print(f"   glasses |change| bare:         {np.round(np.abs(change[:, ~has_glasses]).mean(1) * 100, 1)}", flush=True)
    if os.environ.get("STRIP"):
        np.save(f"{os.environ['STRIP']}_{kind}_{gain:g}_{shape}.npy", frames)
