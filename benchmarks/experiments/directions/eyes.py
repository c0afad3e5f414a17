"""Issue 14: is the eye opening that every direction loses (11-16% in evaluate-demo's table, under the glasses and
hue edits too) a change in the frames, or the factor regressor misreading turned heads?

1. The regressor on the truth: the held-out identities rendered at nine yaws, -60..+60, every other factor kept;
   each factor's mean signed change of reading against the head's own render, % of the factor's range.
2. The edited frames: each held-out head decoded along every shipped direction as it ships, at five strengths;
   the eye-opening reading and the frames' fine detail (mean absolute difference from a 3x3 box blur, the share of
   the image a softening removes first), each against strength 0; the truth renders' fine detail at the same yaws
   beside the head turn's.

    HEADS=20 python benchmarks/experiments/directions/eyes.py
"""
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from latent_studio.core.directions import apply_directions  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch  # noqa: E402
from latent_studio.demo.evaluation import EVALUATION_SEED  # noqa: E402
from latent_studio.demo.factors import FACTORS, FACTOR_NAMES, HeadFactors  # noqa: E402
from latent_studio.demo.heads import render_batch  # noqa: E402
from latent_studio.demo.regressor import factor_difference, load_regressor, predict  # noqa: E402
from latent_studio.engine.directions import model_directions  # noqa: E402
from latent_studio.engine.discovery import embed_images  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402
from latent_studio.engine.source_attention import decode_edits  # noqa: E402

HEADS, STEPS, BATCH = int(os.environ.get("HEADS", 20)), 50, 32
EYE = FACTOR_NAMES.index("eye_open")
EYE_SPAN = FACTORS[EYE].span


def fine_detail(images: np.ndarray) -> np.ndarray:
    """Per image: mean absolute difference (grey levels) between the image and its 3x3 box blur."""
    x = images.astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    blur = sum(padded[:, i:i + x.shape[1], j:j + x.shape[2]] for i in range(3) for j in range(3)) / 9.0
    return np.abs(x - blur).mean(axis=(1, 2, 3))


regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, 64, 100)  # evaluate-demo's embedded heads
images, factors, identities = batch.images[:HEADS], batch.factors[:HEADS], batch.identities[:HEADS]
own = predict(regressor, images)
yaws = np.linspace(-60.0, 60.0, 9)
truth_detail = []
print(f"1. the regressor on truth renders of {HEADS} held-out identities at absolute yaws "
      + " ".join(f"{y:+.0f}" for y in yaws) + " (mean signed change, % of range)")
changes = {f.name: [] for f in FACTORS if f.name != "yaw"}
for yaw in yaws:
    rendered = render_batch([HeadFactors.from_array(f).replace(yaw=float(yaw)) for f in factors], identities.tolist(), 64)
    truth_detail.append(fine_detail(rendered).mean())
    read = predict(regressor, rendered)
    for i, f in enumerate(FACTORS):
        if f.name in changes:
            changes[f.name].append(factor_difference(f.name, read[:, i] - own[:, i]).mean() / f.span * 100.0)
for name, row in changes.items():
    print(f"  {name:<15}" + " ".join(f"{v:6.1f}" for v in row))
print("  fine detail     " + " ".join(f"{v:6.2f}" for v in truth_detail) + "  (grey levels; the truth renders)")

model = load_model("toy-heads", device="cpu")
cache = f"/tmp/eval_heads_{HEADS}.npy"
heads = np.load(cache) if os.path.isfile(cache) else embed_images(model, images, STEPS, batch=BATCH)
np.save(cache, heads)
print(f"\n2. {HEADS} embedded heads along each shipped direction (eye opening: mean signed change, % of range;"
      " fine detail: grey levels, then % of strength 0's)")
for direction in model_directions(model):
    low, high = direction.strength_range
    strengths = np.array(sorted({low, low / 2, 0.0, high / 2, high}))
    edited = np.stack([apply_directions(h, [(direction, float(s))]) for s in strengths for h in heads])
    source_of = [i for _ in strengths for i in range(HEADS)]
    frames = decode_edits(model, edited, heads, source_of, direction.source_attention_from, STEPS, batch_size=BATCH)
    frames = frames.reshape(len(strengths), HEADS, *frames.shape[1:])
    zero = int(np.flatnonzero(strengths == 0.0)[0])
    eyes = np.stack([predict(regressor, f)[:, EYE] for f in frames])
    detail = np.stack([fine_detail(f) for f in frames]).mean(axis=1)
    print(f"  {direction.name} at " + " ".join(f"{s:+g}" for s in strengths))
    print("    eye opening  " + " ".join(f"{v:6.1f}" for v in (eyes - eyes[zero]).mean(axis=1) / EYE_SPAN * 100.0))
    print("    fine detail  " + " ".join(f"{v:6.2f}" for v in detail)
          + "   (" + " ".join(f"{v:.0f}%" for v in detail / detail[zero] * 100.0) + ")", flush=True)
