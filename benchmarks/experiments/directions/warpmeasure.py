"""Measure noise warping (variant C, flow from draft-decoder pictures, duplicates refilled with fresh noise)
on held-out heads with the same table as bench_directions."""
import sys, os, time
import numpy as np
import torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2])); sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import bench_directions as bench
import latent_studio.demo.evaluation as evaluation
from noisewarp import block_flow, lowpass
from latent_studio.core.latent_math import add_directions
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.regressor import load_regressor, predict
from latent_studio.engine.decode import decode
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model
from latent_studio.engine.source_attention import decode_edits

STEPS = 50
DEDUP = os.environ.get("DEDUP", "1") == "1"
VARIANT = os.environ.get("VARIANT", "C")
FLOW_STEPS = int(os.environ.get("FLOW_STEPS", 0))  # 0: draft decoder


def gather_unique(x, off, rng):
    c, h, w = x.shape
    ys = (torch.arange(h)[:, None] + off[0]).clamp(0, h - 1).numpy()
    xs = (torch.arange(w)[None] + off[1]).clamp(0, w - 1).numpy()
    out = x[:, ys, xs]
    if DEDUP:
        flat = (ys * w + xs).ravel()
        _, first = np.unique(flat, return_index=True)
        dup = np.ones(h * w, bool); dup[first] = False
        fresh = rng.standard_normal((c, h * w)).astype(np.float32)
        out = out.reshape(c, -1); out[:, dup] = fresh[:, dup]; out = out.reshape(c, h, w)
    return out


def warped_edits(model, heads, vector, strengths):
    flat = [(i, s) for s in strengths for i in range(len(heads))]
    plain = np.stack([add_directions(heads[i], [(vector, s)]) for i, s in flat])
    pictures = decode(model, plain, FLOW_STEPS)
    sources = decode(model, np.asarray(heads, np.float32), FLOW_STEPS)
    out = []
    for (i, s), picture in zip(flat, pictures):
        x = heads[i]
        if s == 0:
            out.append(x); continue
        off = block_flow(picture, sources[i])
        rng = np.random.default_rng(1234 + i)
        if VARIANT == "C":
            low = lowpass(x)
            y = gather_unique(x - low, off, rng) + low + s * vector
        else:
            y = gather_unique(x, off, rng) + s * vector
        out.append((y * np.linalg.norm(x) / np.linalg.norm(y)).astype(np.float32))
    return np.stack(out)


def main():
    heads_n = int(os.environ.get("HEADS", 8))
    model = load_model("toy-heads")
    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    direction = next(d for d in model_directions(model) if d.name == "Head turn")
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, 64, heads_n)
    heads = embed_images(model, batch.images, STEPS, batch=32)
    sizes = Sizes(heads=heads_n, strengths=9, steps=STEPS, batch=32)

    def reader(model_, regressor_, heads_, vector, strengths, steps, **kw):
        edited = warped_edits(model, heads_, vector, strengths)
        source_of = [i for _ in strengths for i in range(len(heads_))]
        images = decode_edits(model, edited, np.asarray(heads_, np.float32), source_of, 0.0, STEPS, batch_size=32)
        return predict(regressor, images).reshape(len(strengths), len(heads_), -1)

    evaluation.read_along = reader
    original = bench.add_directions
    t = time.perf_counter()
    table = direction_table(model, regressor, heads, direction, "yaw", sizes)
    per = (time.perf_counter() - t) / (len(table.strengths) * heads_n) * 1000
    # ground truth: bench.ground_truth builds edits with add_directions; swap in the warped ones
    lookup = {}
    for s in bench.GROUND_TRUTH_STRENGTHS:
        for i, y in enumerate(warped_edits(model, heads, direction.vector, [s])):
            lookup[(i, s)] = y
    counter = {"n": 0}
    def add_warped(h, pairs):
        (vec, s), = pairs
        i = counter["n"] % len(heads); counter["n"] += 1
        return lookup[(i, s)]
    bench.add_directions = add_warped
    gt = bench.ground_truth(model, regressor, heads, batch.factors, batch.identities, direction, STEPS, 32)
    bench.add_directions = original
    drift = ", ".join(f"{k} {x:.1f}" for k, x in sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4])
    print(f"noise warp {VARIANT} dedup {DEDUP} flow {FLOW_STEPS or 'draft'}: |r| {abs(table.pearson_r):.3f} span {table.span:.2f} "
          f"mono {table.monotonic} | {drift} | GT {gt[0]:.2f} dB feat {gt[1]:.3f} | {per:.0f} ms/frame", flush=True)
    print("   means", np.round(table.means[:, 0], 2))

if __name__ == "__main__":
    main()
