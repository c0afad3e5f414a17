"""Issue 14: does the norm-keeping rescale of an edit cause the glasses drift? 8 heads, head turn."""
import sys, time
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import bench_directions as bench
import latent_studio.demo.direction_fitting as fitting
from latent_studio.core import latent_math
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import DIRECTION_FACTORS, EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

original = latent_math.add_directions
BASIS = None

def none(latent, directions, renormalize=True):
    return original(latent, directions, renormalize=False)

def residual(latent, directions, renormalize=True):
    """Keep every model direction's component; rescale only the rest to restore the norm."""
    x = np.asarray(latent, np.float64)
    out = x.copy()
    for d, s in directions:
        out += s * np.asarray(d, np.float64)
    flat = out.ravel()
    q = BASIS
    inside = q @ (q.T @ flat)
    rest = flat - inside
    want = float(np.sum(x * x)) - float(inside @ inside)
    k = np.sqrt(max(want, 0.0)) / np.linalg.norm(rest)
    return (inside + k * rest).reshape(x.shape).astype(np.float32)

VARIANTS = {"global": original, "none": none, "residual": residual}

def main():
    global BASIS
    heads_n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    which = sys.argv[2].split(",") if len(sys.argv) > 2 else list(VARIANTS)
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else ["Head turn"]
    model = load_model("toy-heads")
    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    dirs = model_directions(model)
    BASIS, _ = np.linalg.qr(np.stack([d.vector.ravel().astype(np.float64) for d in dirs], 1))
    batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], heads_n)
    heads = embed_images(model, batch.images, 50, batch=32)
    sizes = Sizes(heads=heads_n, strengths=9, steps=50, batch=32)
    for direction in [d for d in dirs if d.name in names]:
        factor = DIRECTION_FACTORS[direction.name]
        for v in which:
            fitting.add_directions = VARIANTS[v]
            bench.add_directions = VARIANTS[v]
            t = time.perf_counter()
            table = direction_table(model, regressor, heads, direction, factor, sizes)
            drift = ", ".join(f"{k} {x:.1f}" for k, x in sorted(table.drift_percent.items(), key=lambda kv: -kv[1])[:4])
            gt = ""
            if factor == "yaw":
                gt = "GT %.2f dB feat %.3f" % bench.ground_truth(model, regressor, heads, batch.factors, batch.identities, direction, 50, 32)
            print(f"{direction.name} {v:<9} |r| {abs(table.pearson_r):.3f} span {table.span:.2f} mono {table.monotonic} | {drift} | {gt} | {time.perf_counter()-t:.0f}s", flush=True)

main()
