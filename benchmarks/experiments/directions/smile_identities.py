"""Issue 14: is the smile's mottle the fitting noise in its line, lengthened by its calibration?

The shipped smile is a line through the centroids of 24 identities at 9 smiles, lengthened x19.8 so that it
moves the smile; smile_by_yaw.py found such lines mostly identity noise (a line through 300 other embeddings
has a cosine of only 0.23 with it). Whatever noise the line carries is lengthened with it, and may be the
mottle. Here the smile is fitted on IDENTITIES (default 96) identities at 5 smiles (binned centroids,
orthogonal to the head turn), then scaled so that its response on 16 of its own neutral heads equals the
shipped smile's (the regressor's reading, decoded beside the source as shipped); it takes the shipped hold.
Prints the two lengths and their cosine, writes the example heads at +0.5 and +1 (shipped, then this at the
largest of GAINS times that length) to /tmp/smile_identities.png, and with HEADS the harness's row for the
shipped smile (unless SHIPPED=0) and for this one at each gain.

    IDENTITIES=96 HEADS=50 python benchmarks/experiments/directions/smile_identities.py
    IDENTITIES=96 HEADS=50 SHIPPED=0 GAINS=1.3,1.6 python benchmarks/experiments/directions/smile_identities.py

With SAVE=PATH it also writes the smile at the largest gain as a direction file (the shipped smile's range,
hold and decode, its info saying how it was made), for shipping it after `evaluate-demo` has measured it.
"""
import os
import time
from dataclasses import replace

import numpy as np

from held_heads import example_grid, held_heads, print_row

from latent_studio.core.directions import orthogonalise, save_direction
from latent_studio.core.resources import resources_dir
from latent_studio.demo.direction_fitting import DISCOVERY_SEED, Plan, response_slope, stratified_renders
from latent_studio.demo.evaluation import Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import binned_direction, embed_images
from latent_studio.engine.models import load_model

IDENTITIES, HEADS, STEPS = int(os.environ.get("IDENTITIES", 96)), int(os.environ.get("HEADS", 0)), 50
GAINS = [float(g) for g in os.environ.get("GAINS", "1").split(",")]
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
turn, smile = (next(d for d in model_directions(model) if d.name == name) for name in ("Head turn", "Smile"))

plan = Plan("smile", tuple(np.linspace(-1, 1, 5)), IDENTITIES, 0.0, (0.0, 0.5))
cache = f"/tmp/smile_identities_{IDENTITIES}.npz"
if os.path.isfile(cache):
    saved = np.load(cache)
    latents, values = saved["latents"], saved["values"]
else:
    images, values = stratified_renders(plan, model.image_size[-1], DISCOVERY_SEED + 1)
    latents = embed_images(model, images, STEPS)
    np.savez(cache, latents=latents, values=values)
fitted = binned_direction("Smile", latents, values, model.content_hash, strength_range=(-0.5, 1.0), bins=5)
line = orthogonalise(fitted.vector, [turn.vector]).astype(np.float32)
neutral = latents[values == 0.0][:16]
shipped_slope = response_slope(model, regressor, smile.vector, plan, neutral, STEPS, source_attention_from=0.0)
line_slope = response_slope(model, regressor, line, plan, neutral, STEPS, source_attention_from=0.0)
cleaner = replace(smile, vector=(line * shipped_slope / line_slope).astype(np.float32))
cos = float(np.vdot(cleaner.vector, smile.vector) / np.linalg.norm(cleaner.vector) / np.linalg.norm(smile.vector))
print(f"{len(latents)} embedded, R2 {fitted.info['r2']}; response per unit: shipped {shipped_slope:.3f}, fitted line "
      f"{line_slope:.3f}; |shipped| {np.linalg.norm(smile.vector):.1f}, |this| {np.linalg.norm(cleaner.vector):.1f}, "
      f"cosine {cos:.3f}; {time.perf_counter() - started:.0f} s", flush=True)

strengths = (0.5, 1.0)
names = example_grid(model, "/tmp/smile_identities.png",
                     lambda latent: (smile, replace(cleaner, vector=cleaner.vector * max(GAINS))), strengths, STEPS)
print(f"/tmp/smile_identities.png: rows {names}; columns: source, shipped at {strengths}, this "
      f"x{max(GAINS):g} at {strengths}; {time.perf_counter() - started:.0f} s", flush=True)
if HEADS:
    held, wearing = held_heads(model, HEADS, STEPS)
    runs = [("shipped", smile)] if os.environ.get("SHIPPED", "1") == "1" else []
    runs += [(f"{IDENTITIES} identities x{gain:g}", replace(cleaner, vector=cleaner.vector * gain)) for gain in GAINS]
    for label, direction in runs:
        table = direction_table(model, regressor, held, direction, "smile",
                                Sizes(heads=HEADS, strengths=9, steps=STEPS, batch=32), wearing=wearing)
        print_row(label, table, started, "smile")
if os.environ.get("SAVE"):
    gain = max(GAINS)
    info = dict(smile.info, r2=fitted.info["r2"], examples=str(len(latents)), bins="5",
                calibration=f"x{gain:g} of the length at which 16 neutral heads respond as to the x19.8 smile fitted on "
                            f"24 identities (benchmarks/experiments/directions/smile_identities.py, {IDENTITIES} identities)")
    save_direction(os.environ["SAVE"], replace(smile, vector=(cleaner.vector * gain).astype(np.float32), info=info))
    print(f"wrote {os.environ['SAVE']}", flush=True)
