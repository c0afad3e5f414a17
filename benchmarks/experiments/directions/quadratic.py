"""Issue 14: a curved head turn. The shipped split lines plus a quadratic term fitted through the same centroids.

The yaw centroids of the fitting identities do not lie on a line: regressed on (1, u, u^2) with u = yaw / 60, the
quadratic coefficient is as large as the linear one and as reproducible between two halves of the identities
(cosine between halves 0.56 for u^2 against 0.37 for u). It is the profile change that both turns share (the
left and right half-lines of `sides.py` point half against each other). A straight line averages it away, so a
head turned far keeps its frontal detail. Here each head at yaw u_s moved by s degrees is edited by

    line(w) * s + G * kappa * q(w) * ((u_s + s/60)^2 - u_s^2)

where w is the split's glasses blend, kappa the line's calibration (shipped line length over the fitted line's)
and u_s the head's yaw: the truth (oracle) or the latent's reading along the fitted line (reading; model-agnostic).

    HEADS=50 RUNS=oracle:0,oracle:0.4,reading:0.4 CACHE=/tmp/split_latents.npy python benchmarks/experiments/directions/quadratic.py
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
from latent_studio.demo.direction_fitting import default_plans, split_present, stratified_renders  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table  # noqa: E402
from latent_studio.demo.factors import FACTOR_NAMES, FACTORS, HeadFactors  # noqa: E402
from latent_studio.demo.heads import render_batch  # noqa: E402
from latent_studio.demo.regressor import features, load_regressor, predict  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402
from latent_studio.engine.source_attention import decode_edits  # noqa: E402

HEADS, STEPS = int(os.environ.get("HEADS", 8)), 50
# which yaw each head is taken to start at (oracle: the truth; reading: the latent's; zero: 0 for all) and the gain
RUNS = [(r.split(":")[0], float(r.split(":")[1])) for r in os.environ.get("RUNS", "oracle:0,oracle:0.4,reading:0.4").split(",")]
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
turn = next(d for d in model_directions(model) if d.name == "Head turn")
plan = default_plans()[0]
cache = Path(os.environ.get("CACHE", "/tmp/split_latents.npy"))
if cache.is_file():
    latents = np.load(cache)
else:
    images, _ = stratified_renders(plan, model.image_size[-1])
    latents = embed_images(model, images, STEPS, fixed_point_iterations=1, clamp_iterations=0)
    np.save(cache, latents)
present = split_present(plan)
levels = np.asarray(plan.levels) / 60.0
design = np.stack([np.ones_like(levels), levels, levels**2 - np.mean(levels**2)], 1)
flat = latents.reshape(plan.identities, 2, len(levels), -1).astype(np.float64)
sides = []  # per side: (fitted line b, quadratic q, kappa, reading (mean, vector, scale, offset))
for side, shipped_line in enumerate((turn.split.absent, turn.split.present)):
    centroids = flat[:, side].mean(0)
    a, b, q = np.linalg.lstsq(design, centroids, rcond=None)[0]
    shipped = shipped_line.reshape(-1).astype(np.float64)
    kappa = np.linalg.norm(shipped) / np.linalg.norm(b / 60.0)
    # reading: the latent's projection on the fitted line, regressed on the fitting heads' true yaw
    mean = flat[:, side].reshape(-1, flat.shape[-1]).mean(0)
    proj = (flat[:, side] - mean) @ b
    slope, offset = np.polyfit(proj.reshape(-1), np.tile(levels, plan.identities), 1)
    print(f"side {side}: cos(shipped, fitted) {shipped @ b / np.linalg.norm(shipped) / np.linalg.norm(b):.3f}, "
          f"kappa {kappa:.2f}, |b| {np.linalg.norm(b):.1f}, |q| {np.linalg.norm(q):.1f}", flush=True)
    sides.append((b, q, kappa, mean, slope, offset))

batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], HEADS)
held_cache = Path(f"/tmp/held_{HEADS}.npy")
held = np.load(held_cache) if held_cache.is_file() else embed_images(model, batch.images, STEPS)
np.save(held_cache, held)
true_u = batch.factors[:, FACTOR_NAMES.index("yaw")] / 60.0
weights = np.array([turn.split.presence(h) for h in held])


def reading(head: np.ndarray, w: float) -> float:
    values = [((head.reshape(-1) - mean) @ b) * slope + offset for b, _, _, mean, slope, offset in sides]
    return float((1 - w) * values[0] + w * values[1])


read_u = np.array([reading(h, w) for h, w in zip(held, weights, strict=True)])
print(f"latent yaw reading on {HEADS} held-out heads: r {np.corrcoef(read_u, true_u)[0, 1]:.3f}, "
      f"rms error {np.sqrt(np.mean((read_u - true_u) ** 2)) * 60:.1f} degrees ({time.perf_counter() - started:.0f} s)",
      flush=True)


def edit(i: int, s: float, gain: float, u: np.ndarray) -> np.ndarray:
    w = weights[i]
    line = (1 - w) * turn.split.absent + w * turn.split.present
    curve = sum(f * kappa * q for f, (_, q, kappa, *_rest) in zip((1 - w, w), sides, strict=True))
    bend = gain * curve.reshape(line.shape) * ((u[i] + s / 60.0) ** 2 - u[i] ** 2)
    return add_directions(held[i], [(line, s), (bend.astype(np.float32), 1.0)])


yaw = next(f for f in FACTORS if f.name == "yaw")
sizes = Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32)
for name, gain in RUNS:
    u = {"oracle": true_u, "reading": read_u, "zero": np.zeros_like(true_u)}[name]

    def read_along(model, regressor, heads, direction, strengths, steps, batch_size=32, **kw):
        edited = np.stack([edit(i, s, gain, u) for s in strengths for i in range(len(heads))])
        source_of = [i for _ in strengths for i in range(len(heads))]
        images = decode_edits(model, edited, held, source_of, 0.0, steps, batch_size=batch_size)
        return predict(regressor, images).reshape(len(strengths), len(heads), -1)
    evaluation.read_along = read_along
    table = direction_table(model, regressor, held, turn, "yaw", sizes)
    edited = np.stack([edit(i, s, gain, u) for s in bench.GROUND_TRUTH_STRENGTHS for i in range(HEADS)])
    source_of = [i for _ in bench.GROUND_TRUTH_STRENGTHS for i in range(HEADS)]
    frames = decode_edits(model, edited, held, source_of, 0.0, STEPS, batch_size=32)
    truth = np.concatenate([render_batch([HeadFactors.from_array(f).replace(
        yaw=float(np.clip(f[FACTOR_NAMES.index("yaw")] + s, yaw.low, yaw.high))) for f in batch.factors],
        batch.identities.tolist(), model.latent_shape[-1]) for s in bench.GROUND_TRUTH_STRENGTHS])
    gt_db = np.mean([psnr(a, b) for a, b in zip(frames, truth, strict=True)])
    gt_feat = np.mean(np.linalg.norm(features(regressor, frames) - features(regressor, truth), axis=1))
    worst = sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4]
    print(f"{name:<8} gain {gain:g}  |r| {abs(table.pearson_r):.3f} span {table.span:.1f} monotonic {table.monotonic}  "
          f"drift {', '.join(f'{a} {b:.1f}%' for a, b in worst)}  GT {gt_db:.2f} dB / {gt_feat:.3f}  "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    if os.environ.get("STRIP"):
        np.save(f"{os.environ['STRIP']}_{name}_{gain:g}.npy", frames)
