"""Issue 19: what decoding the bundled model in bfloat16 on a CPU costs in the pictures, and why embedding stays
float32.

On CPUs with bf16 instructions the engine keeps float32 weights and decodes under bf16 autocast
(engine/devices.py), 1.45x faster on the 2-core AVX512-BF16 CPU (benchmarks/bench_render.py). This decodes every
other frame of both example projects at 20 steps and 32 seeds at 50 steps in float32, as shipped (float32
weights, bf16 autocast) and with bf16 weights (the DDIM state float32 in all three), and prints each bf16 way's
PSNR against float32 (mean and worst), the largest pixel difference and its 99.9th percentile; then the
inversion round trip of a few held-out renders with float32 and with bf16 weights (PSNR and seconds). With
--worst PNG it saves the shipped way's worst frame (float32 | bf16 autocast | difference x4), enlarged.

    python benchmarks/experiments/speed/cpu_bf16_quality.py [--worst worst.png] [--renders 6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from latent_studio.core.seeds import noise_latent
from latent_studio.core.project import evaluate, frame_latent
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.demo.evaluation import EVALUATION_SEED, held_out_renders
from latent_studio.engine.decode import decode
from latent_studio.engine.embedding import embed
from latent_studio.engine.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worst", type=Path, help="save the worst frame, float32 | bf16 autocast | difference x4")
    parser.add_argument("--renders", type=int, default=6, help="held-out renders to invert in each precision")
    args = parser.parse_args()

    full = load_model("toy-heads", device="cpu", dtype="float32")
    shipped = load_model("toy-heads", device="cpu", dtype="float32", decode_dtype="bfloat16")
    half = load_model("toy-heads", device="cpu", dtype="bfloat16")
    examples = (resources_dir() or Path("resources")) / "examples"
    worst = (np.inf, None, None)
    sets = {name: (_project_latents(examples / f"{name}.lsproj"), 20) for name in ("head_turn", "morph")}
    sets["32 seeds"] = (np.stack([noise_latent(seed, full.latent_shape) for seed in range(32)]), 50)
    for name, (latents, steps) in sets.items():
        a = decode(full, latents, steps, batch_size=16)
        for way, model in (("bf16 autocast (shipped)", shipped), ("bf16 weights", half)):
            b = decode(model, latents, steps, batch_size=16)
            scores = _psnr(a, b)
            difference = np.abs(a.astype(int) - b.astype(int))
            print(f"{name}: {len(latents)} frames at {steps} steps, {way} against float32: PSNR mean "
                  f"{scores.mean():.1f} dB, worst {scores.min():.1f} dB; largest pixel difference {difference.max()}, "
                  f"99.9th percentile {np.percentile(difference, 99.9):.0f}", flush=True)
            if model is shipped and scores.min() < worst[0]:
                i = int(scores.argmin())
                worst = (scores.min(), a[i], b[i])
    if args.worst:
        _, a, b = worst
        difference = np.clip(np.abs(a.astype(int) - b.astype(int)) * 4, 0, 255).astype(np.uint8)
        strip = np.concatenate([a, b, difference], 1)
        Image.fromarray(strip).resize((strip.shape[1] * 4, strip.shape[0] * 4), Image.NEAREST).save(args.worst)
    images, _ = held_out_renders(args.renders, full.image_size[-1], EVALUATION_SEED + 2)
    for model in (full, half):
        done = [embed(model, image, 50, mode="inversion") for image in images]
        print(f"inversion in {model.placement.describe()}: PSNR mean {np.mean([e.psnr for e in done]):.2f} dB, "
              f"worst {min(e.psnr for e in done):.2f}; {np.mean([e.seconds for e in done]):.2f} s an image", flush=True)


def _project_latents(path: Path) -> np.ndarray:
    project = load_project(path)
    times = (project.settings.frame_time(i) for i in range(0, project.settings.frame_count, 2))
    return np.stack([frame_latent(project, evaluate(project, time)) for time in times])


def _psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12))


if __name__ == "__main__":
    main()
