"""Decoding N latents: Latent Studio's batched engine vs the plain per-frame diffusers loop.

Both use the same loaded UNet, the same latents and the same DDIM steps, in
one run. Prints frames/s of each, their ratio, and the largest pixel
difference between the two outputs (0 or 1 grey level: the same function).
One table per model: the pixel model (yours, or a seeded random one of the
demo's size) and a latent-diffusion model (yours with --latent-model, or a
seeded random VQ autoencoder + UNet making 64x64 pictures; --no-latent skips it).

    python benchmarks/bench_decode.py [--model M] [--latent-model M] [--frames 32] [--steps 10] [--batch 8 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _models import benchmark_latent_model_folder, benchmark_model_folder  # noqa: E402
from diffusers import DDIMScheduler  # noqa: E402

from latent_studio.core.seeds import noise_latent  # noqa: E402
from latent_studio.engine.decode import decode  # noqa: E402
from latent_studio.engine.families.files import use_fast_layout  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402


def plain_diffusers_loop(model, latents: np.ndarray, steps: int) -> np.ndarray:
    """What a user writes: set_timesteps, then unet and scheduler.step per step, one frame at a time."""
    scheduler = DDIMScheduler.from_config(model.scheduler_config)
    frames = []
    with torch.no_grad():
        for latent in latents:
            scheduler.set_timesteps(steps)
            x = torch.from_numpy(latent)[None].to(model.placement.device, model.placement.dtype)
            for t in scheduler.timesteps:
                x = scheduler.step(model.family.unet(x, t).sample, t, x, eta=0.0).prev_sample
            x = model.family.to_images(x)  # the autoencoder's decoder for a latent model, as LDMPipeline runs it
            image = ((x.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
            frames.append(image[0].cpu().numpy())
    return np.stack(frames)


def print_rows(rows: list[tuple[str, float, int]], frames: int) -> None:
    """One line per method: seconds, frames/s, speed relative to the first row, largest pixel difference."""
    width = max(len(name) for name, _, _ in rows) + 4
    baseline = rows[0][1]
    print(f"{'method':<{width}}{'seconds':>9}{'frames/s':>10}{'vs plain':>10}{'max px diff':>13}")
    for name, seconds, diff in rows:
        print(f"{name:<{width}}{seconds:>9.2f}{frames / max(seconds, 1e-9):>10.2f}{baseline / max(seconds, 1e-9):>9.2f}x{diff:>13}")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model to load (default: seeded random 64x64 UNet of the demo size)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latent-model", help="latent-diffusion model (default: seeded random VQ + UNet, 64x64 pictures)")
    parser.add_argument("--no-latent", action="store_true", help="only the pixel model")
    parser.add_argument("--device")
    args = parser.parse_args()

    bench_model(benchmark_model_folder(args.model), args)
    if not args.no_latent:
        print()
        bench_model(args.latent_model or benchmark_latent_model_folder(), args)


def bench_model(folder: str, args) -> None:
    model = load_model(folder, device=args.device)
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in range(args.frames)])
    print(f"model {model.source.spec} ({model.family.name}): latent {model.latent_shape}, pictures {model.image_size}, "
          f"{model.parameter_count / 1e6:.1f} M params, "
          f"{model.placement.describe()}, torch threads {torch.get_num_threads()}")
    print(f"{args.frames} frames x {args.steps} DDIM steps\n")

    decode(model, latents[:2], 2, batch_size=2)  # warm-up: allocator, kernels

    model.family.unet.to(memory_format=torch.contiguous_format)  # as diffusers loads it for the user
    plain_diffusers_loop(model, latents[:1], 2)
    reference, plain_s = timed(lambda: plain_diffusers_loop(model, latents, args.steps))
    use_fast_layout(model.family.unet, model.placement)
    rows = [("plain diffusers loop (per frame)", plain_s, 0)]
    for batch in args.batch:
        ours, seconds = timed(lambda batch=batch: decode(model, latents, args.steps, batch_size=batch))
        rows.append((f"latent-studio engine, batch {batch}", seconds, int(np.abs(ours.astype(int) - reference.astype(int)).max())))

    print_rows(rows, args.frames)


if __name__ == "__main__":
    main()
