"""Issue 14: does the smile go wrong on turned heads because its line is pinned to the frontal mouth?

Looked at, the shipped smile at +1 puts a mottled patch on the cheek of the morph's turned heads (Bea, Dev)
instead of a smile. Here the smile is fitted per yaw: 12 identities, each rendered at 5 yaws and 5 smiles,
one line per yaw (binned centroids over the smile, orthogonal to the head turn), each scaled by the
calibration the shipped smile got over one line through all of them; a head gets the line of its own yaw
(read by the head turn's bends, linear between the yaws). Decoded beside the source, with the smile's hold,
as the smile ships; a grid of the example heads (and, with HEADS, the harness's row on held-out heads).

    python benchmarks/experiments/directions/smile_by_yaw.py            # writes /tmp/smile_by_yaw.png
"""
import dataclasses
import os
import time

import numpy as np

from held_heads import example_faces, example_grid

from latent_studio.core.directions import orthogonalise
from latent_studio.demo.factors import sample_factors
from latent_studio.demo.heads import render_batch
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import binned_direction, embed_images
from latent_studio.engine.models import load_model

YAWS, SMILES, IDENTITIES, STEPS = (-45.0, -20.0, 0.0, 20.0, 45.0), (-1.0, -0.5, 0.0, 0.5, 1.0), 12, 50
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
turn, smile = (next(d for d in model_directions(model) if d.name == name) for name in ("Head turn", "Smile"))

cache = "/tmp/smile_by_yaw.npz"
if os.path.isfile(cache):
    saved = np.load(cache)
    latents, yaws, smiles = saved["latents"], saved["yaws"], saved["smiles"]
else:
    rng = np.random.default_rng([20231, 7])
    people, identities = sample_factors(rng, IDENTITIES), rng.integers(0, 2**31, IDENTITIES).tolist()
    factors, ids, yaws, smiles = [], [], [], []
    for person, identity in zip(people, identities):
        for yaw in YAWS:
            for level in SMILES:
                factors.append(person.replace(yaw=yaw, smile=level))
                ids.append(identity)
                yaws.append(yaw)
                smiles.append(level)
    yaws, smiles = np.array(yaws), np.array(smiles)
    latents = embed_images(model, render_batch(factors, ids, model.image_size[-1]), STEPS)
    np.savez(cache, latents=latents, yaws=yaws, smiles=smiles)
print(f"{len(latents)} embedded, {time.perf_counter() - started:.0f} s", flush=True)


def line(mask):
    fitted = binned_direction("Smile", latents[mask], smiles[mask], model.content_hash, strength_range=(-0.5, 1.0), bins=5)
    return orthogonalise(fitted.vector, [turn.vector]), fitted.info["r2"]


overall, _ = line(np.ones(len(latents), bool))
scale = np.linalg.norm(smile.vector) / np.linalg.norm(overall)
lines = []
for yaw in YAWS:
    vector, r2 = line(yaws == yaw)
    lines.append((vector * scale).astype(np.float32))
    cos = float(np.vdot(vector, overall) / np.linalg.norm(vector) / np.linalg.norm(overall))
    print(f"yaw {yaw:+.0f}: R2 {r2}, |line| {np.linalg.norm(lines[-1]):.2f}, cosine with the line through all {cos:.3f}")
print(f"shipped smile |v| {np.linalg.norm(smile.vector):.2f}; cosine of the shipped smile with the line through all "
      f"{float(np.vdot(smile.vector, overall) / np.linalg.norm(smile.vector) / np.linalg.norm(overall)):.3f}")


def yaw_of(latent):
    return turn.split.position(latent) if turn.split is not None else turn.bend.position(latent)


def smile_for(latent):
    """The smile direction with the line of the head's own yaw (linear between the fitted yaws)."""
    v = float(np.clip(yaw_of(latent), YAWS[0], YAWS[-1]))
    k = min(int(np.searchsorted(YAWS, v, side="right")) - 1, len(YAWS) - 2)
    t = (v - YAWS[k]) / (YAWS[k + 1] - YAWS[k])
    return dataclasses.replace(smile, vector=((1 - t) * lines[k] + t * lines[k + 1]).astype(np.float32))


for name, latent in example_faces():
    print(f"{name}: reads yaw {yaw_of(latent):+.0f}")
strengths = (0.5, 1.0)
names = example_grid(model, "/tmp/smile_by_yaw.png", lambda latent: (smile, smile_for(latent)), strengths, STEPS)
print(f"/tmp/smile_by_yaw.png: rows {names}; columns: source, shipped at {strengths}, "
      f"by yaw at {strengths}; {time.perf_counter() - started:.0f} s")
