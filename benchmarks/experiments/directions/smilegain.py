import sys, dataclasses, numpy as np
from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.evaluation import EVALUATION_SEED, Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model
from latent_studio.demo.factors import FACTOR_NAMES
model = load_model("toy-heads")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
smile = next(d for d in model_directions(model) if d.name == "Smile")
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, 64, int(__import__("os").environ.get("HEADS", 8)))
heads = embed_images(model, batch.images, 50, batch=32)
RANGE = tuple(float(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else smile.strength_range
for gain in [float(g) for g in sys.argv[1].split(",")]:
    d = dataclasses.replace(smile, vector=smile.vector * gain, strength_range=RANGE)
    t = direction_table(model, regressor, heads, d, "smile", Sizes(heads=len(heads), strengths=9, steps=50, batch=32))
    drift = ", ".join(f"{k} {x:.1f}" for k, x in sorted(t.drift_percent.items(), key=lambda kv: -kv[1])[:3])
    print(f"smile x{gain}: |r| {abs(t.pearson_r):.3f} span {t.span:.2f} mono {t.monotonic} | {drift}", np.round(t.means[:, FACTOR_NAMES.index('smile')], 2), flush=True)
