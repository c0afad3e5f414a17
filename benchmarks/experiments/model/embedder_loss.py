"""Issue 13: does an image-space loss lift the one-pass embedding network toward 28 dB?

The shipped network is trained by mean squared error on x_T, which weighs every latent component alike, though
the decoded picture depends on some far more than others. This fine-tunes the shipped network from its weights,
for the same wall time on the same pairs, with each loss, and scores each as evaluate-demo does: held-out renders
embedded in one pass and decoded at 50 DDIM steps, PSNR against the render.

  latent   MSE on x_T (the shipped recipe)
  draft    MSE on x_T + LAMBDA * MSE between the draft decoder's one-pass picture of the predicted x_T and the image
  fresh    MSE on x_T + LAMBDA * the draft's picture error on other renders, which need no inversion (FRESH of them)
  ddim     MSE on x_T + LAMBDA * MSE of the full 50-step DDIM decode (differentiated through every step)

    PAIRS=/tmp/pairs.npz SEEDS=1536 RENDERS=512 MINUTES=15 METHODS=latent,draft,fresh HELD=100 LAMBDA=10 \
        python benchmarks/experiments/model/embedder_loss.py
"""
import os
import time
from pathlib import Path

import numpy as np
import torch

from latent_studio.core.metrics import psnr
from latent_studio.demo.data import render_many
from latent_studio.demo.evaluation import held_out_renders
from latent_studio.engine.ddim import from_uint8, make_plan
from latent_studio.engine.decode import decode, decode_differentiable
from latent_studio.engine.draft_decoder import load_draft_decoder
from latent_studio.engine.embedder import load_embedder
from latent_studio.engine.embedder_training import inversion_pairs, load_pairs, sample_pairs, save_pairs
from latent_studio.engine.models import load_model

FOLDER = Path("resources/models/toy-heads")
env = os.environ.get
SEEDS, RENDERS, HELD = int(env("SEEDS", 1536)), int(env("RENDERS", 512)), int(env("HELD", 48))
MINUTES, LR, BATCH = float(env("MINUTES", 20)), float(env("LR", 1e-4)), int(env("BATCH", 32))
LAMBDA, STEPS = float(env("LAMBDA", 10.0)), 50
torch.set_num_threads(int(env("THREADS", 2)))

model = load_model(FOLDER, device="cpu", dtype="float32")
cache = Path(env("PAIRS", "/tmp/embedder_pairs.npz"))
pairs = load_pairs(cache, model.content_hash, STEPS)
if pairs is None:
    started = time.perf_counter()
    pairs = sample_pairs(model, SEEDS, STEPS)
    if RENDERS:
        pairs = pairs.join(inversion_pairs(model, render_many(RENDERS, 64, workers=1), STEPS))
    save_pairs(pairs, cache, model.content_hash, STEPS)
    print(f"pairs: {len(pairs.images)} in {time.perf_counter() - started:.0f} s", flush=True)
images = from_uint8(torch.from_numpy(pairs.images))
latents = torch.from_numpy(pairs.latents)
held, _ = held_out_renders(HELD, 64)
fresh = None
if "fresh" in env("METHODS", ""):
    fresh = from_uint8(torch.from_numpy(render_many(int(env("FRESH", 4096)), 64, workers=1, seed=77)))
held_pixels = from_uint8(torch.from_numpy(held))


def score(unet) -> tuple[float, float]:
    with torch.no_grad():
        predicted = unet(held_pixels, torch.zeros(len(held), dtype=torch.long)).sample
    pictures = decode(model, predicted.numpy(), STEPS)
    values = [psnr(a, b) for a, b in zip(pictures, held, strict=True)]
    return float(np.mean(values)), float(np.min(values))


shipped = load_embedder(FOLDER, model.content_hash, torch.device("cpu"), torch.float32)
print(f"shipped network on {HELD} held-out renders: {score(shipped.unet)[0]:.2f} dB mean", flush=True)
draft = load_draft_decoder(FOLDER, model.content_hash, torch.device("cpu"), torch.float32)
draft.unet.requires_grad_(False)
model.family.denoiser.requires_grad_(False)
for method in env("METHODS", "latent,draft").split(","):
    embedder = load_embedder(FOLDER, model.content_hash, torch.device("cpu"), torch.float32)
    unet = embedder.unet.train().requires_grad_(True)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=LR, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    batch = BATCH if method != "ddim" else int(env("DDIM_BATCH", 4))
    started, step, losses = time.perf_counter(), 0, []
    while (done := (time.perf_counter() - started) / (MINUTES * 60)) < 1:
        index = torch.randint(0, len(images), (batch,), generator=generator)
        for group in optimiser.param_groups:
            group["lr"] = LR * 0.5 * (1 + np.cos(np.pi * done))
        x = images[index]
        predicted = unet(x, torch.zeros(batch, dtype=torch.long)).sample
        loss = torch.nn.functional.mse_loss(predicted, latents[index])
        if method == "draft":
            loss = loss + LAMBDA * torch.nn.functional.mse_loss(draft.clean(predicted), x)
        elif method == "fresh":
            other = fresh[torch.randint(0, len(fresh), (batch,), generator=generator)]
            guess = unet(other, torch.zeros(batch, dtype=torch.long)).sample
            loss = loss + LAMBDA * torch.nn.functional.mse_loss(draft.clean(guess), other)
        elif method == "ddim":
            loss = loss + LAMBDA * torch.nn.functional.mse_loss(decode_differentiable(model, predicted, make_plan(model.scheduler_config, STEPS)), x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        losses.append(loss.item())
        step += 1
    unet.eval()
    mean, low = score(unet)
    print(f"{method:<7} {step} steps of batch {batch} in {MINUTES:g} min, loss {np.mean(losses[-50:]):.4f}: "
          f"{mean:.2f} dB mean, {low:.2f} min", flush=True)
