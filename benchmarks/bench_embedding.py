"""Embedding methods side by side on held-out toy-head renders: PSNR, seconds per image, UNet calls.

    python benchmarks/bench_embedding.py [--renders 16] [--steps 50]

Rows: the previous default inversion (plain DDIM start, 3 fixed-point
iterations every step), today's inversion (extrapolated start, iterations
until an image stops moving), and, when the model has one, the network alone
and the network-started variants that were tried as the 'hybrid' mode
(network x_T as the start of parallel-in-time fixed-point sweeps, plain and
Anderson-accelerated). Times are one image at a time, as `latent-studio
embed` runs it, including the reconstruction decode that reports the PSNR.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from latent_studio.core.metrics import psnr
from latent_studio.demo.evaluation import held_out_renders
from latent_studio.engine import inversion
from latent_studio.engine.ddim import DdimPlan, from_uint8, make_plan
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model


class CountingUnet(torch.nn.Module):
    """Counts UNet calls per image (a batch of n counts n)."""

    def __init__(self, unet) -> None:
        super().__init__()
        self.unet, self.calls, self.config = unet, 0, unet.config

    def forward(self, x, t):
        self.calls += x.shape[0]
        return self.unet(x, t)


def previous_inversion(model, image, plan: DdimPlan) -> torch.Tensor:
    """The inversion before the extrapolated start: a plain DDIM start and 3 iterations at every step."""
    x = image
    for k in reversed(range(plan.steps)):
        x, _ = inversion._invert_step(model.family, x, plan, k, 3, None, None, tolerance=0.0)
    return x


def sweeps(model, image, z, plan: DdimPlan, count: int, anderson: int = 0) -> torch.Tensor:
    """Parallel-in-time fixed-point sweeps from the network's x_T: all steps' noise in one batched call per sweep."""
    levels = range(plan.steps)
    x = torch.cat([math.sqrt(plan.alphas[k]) * image + math.sqrt(1 - plan.alphas[k]) * z for k in levels])
    history_x, history_f = [], []
    for _ in range(count):
        t = torch.tensor(plan.timesteps)
        out = model.family.unet(x, t).sample.float()
        alphas = torch.tensor(plan.alphas, dtype=torch.float32)[:, None, None, None]
        noise = alphas.sqrt() * out + (1 - alphas).sqrt() * x if plan.prediction_type == "v_prediction" else out
        current, solved = image, [None] * plan.steps
        for k in reversed(levels):
            a, ap = plan.alphas[k], plan.alphas_prev[k]
            clean = (current - math.sqrt(1 - ap) * noise[k : k + 1]) / math.sqrt(ap)
            current = math.sqrt(a) * clean + math.sqrt(1 - a) * noise[k : k + 1]
            solved[k] = current
        f = torch.cat(solved)
        if not anderson:
            x = f
            continue
        history_x, history_f = (history_x + [x.flatten()])[-anderson:], (history_f + [f.flatten()])[-anderson:]
        if len(history_x) == 1:
            x = f
            continue
        g = torch.stack([b - a for a, b in zip(history_x, history_f)], 1).double()
        gamma = torch.linalg.lstsq(g[:, 1:] - g[:, :-1], g[:, -1:]).solution
        fs = torch.stack(history_f, 1).double()
        x = (fs[:, -1:] - (fs[:, 1:] - fs[:, :-1]) @ gamma).float().reshape(x.shape)
    return x[:1]


def measure(name, model, images, steps, method) -> None:
    counter = CountingUnet(model.family.unet)
    original, model.family.unet = model.family.unet, counter
    scores, seconds, calls = [], [], []
    try:
        for image in images:
            counter.calls = 0
            target = from_uint8(torch.from_numpy(image[None]))
            started = time.perf_counter()
            with torch.no_grad():
                latent = method(target)
            reconstruction = decode(model, latent.numpy(), steps)[0]
            seconds.append(time.perf_counter() - started)
            scores.append(psnr(reconstruction, image))
            calls.append(counter.calls)
    finally:
        model.family.unet = original
    row = (name, np.mean(scores), np.min(scores), np.mean(seconds), np.mean(calls))
    print(f"  {row[0]:44s} {row[1]:7.2f} {row[2]:7.2f} {row[3]:8.2f} {row[4]:7.0f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/models/toy-heads")
    parser.add_argument("--renders", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model(args.model, device="cpu")
    images, _ = held_out_renders(args.renders, model.latent_shape[-1])
    plan = make_plan(model.scheduler_config, args.steps)
    print(f"{args.renders} held-out renders, {args.steps} DDIM steps, CPU with {torch.get_num_threads()} threads; "
          "seconds and UNet calls per image include the reconstruction decode")
    print(f"  {'method':44s} {'mean dB':>7s} {'min dB':>7s} {'s/image':>8s} {'calls':>7s}")
    rows = [measure("inversion before (plain start, 3 iterations)", model, images, args.steps,
                    lambda t: previous_inversion(model, t, plan)),
            measure("inversion now (extrapolated start, adaptive)", model, images, args.steps,
                    lambda t: inversion.invert(model, t, plan))]
    if model.embedder is not None:
        z = model.embedder.latents
        rows.append(measure("network (one pass)", model, images, args.steps, z))
        for count in (3, 6):
            rows.append(measure(f"network + {count} parallel sweeps", model, images, args.steps,
                                lambda t, c=count: sweeps(model, t, z(t), plan, c)))
        for count in (4, 8):
            rows.append(measure(f"network + {count} Anderson sweeps", model, images, args.steps,
                                lambda t, c=count: sweeps(model, t, z(t), plan, c, anderson=4)))
    base = rows[0]
    print("relative to the previous inversion: " + "; ".join(
        f"{name.split(' (')[0]}: {seconds / base[3]:.2f}x time, {mean - base[1]:+.1f} dB" for name, mean, _, seconds, _ in rows[1:]))


if __name__ == "__main__":
    main()
