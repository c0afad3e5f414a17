"""Which model formulation samples and inverts best: several toy-heads models side by side, one run.

Each MODEL argument is a model folder, optionally followed by ``:trailing`` to
sample it with trailing timestep spacing instead of the model's own. For each
it prints: the Fréchet distance of regressor features of N samples to held-out
renders (beside the floor, two render sets), how many of the 32-seed grid are
grainy (grain above the grainiest of 1000 held-out renders), and the embedding
PSNR of M held-out renders (fixed-point inversion, the engine's defaults) with
seconds per image.

    python benchmarks/bench_formulations.py resources/models/toy-heads /path/to/v2 /path/to/v2:trailing
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from latent_studio.core.metrics import frechet_distance, psnr
from latent_studio.core.resources import resources_dir
from latent_studio.core.seeds import noise_latent
from latent_studio.demo.evaluation import EVALUATION_SEED, grain, grain_threshold, held_out_renders
from latent_studio.demo.regressor import features, load_regressor
from latent_studio.engine.decode import decode
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders, each optionally with :trailing")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--embeddings", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
    renders_a, _ = held_out_renders(args.samples, 64)
    renders_b, _ = held_out_renders(args.samples, 64, EVALUATION_SEED + 1)
    features_a = features(regressor, renders_a)
    floor = frechet_distance(features(regressor, renders_b), features_a)
    threshold = grain_threshold(64)
    images, _ = held_out_renders(args.embeddings, 64, EVALUATION_SEED + 2)
    print(f"{args.samples} samples and {args.embeddings} embeddings at {args.steps} DDIM steps; FD floor {floor:.2f}; "
          f"grain threshold {threshold:.2f} grey levels")
    print(f"{'model':<34}{'schedule':<40}{'FD':>6}{'grainy/32':>10}{'PSNR':>7}{'min':>7}{'s/img':>7}")
    for spec in args.models:
        folder, _, spacing = spec.partition(":")
        model = load_model(folder, device="cpu")
        if spacing:
            model = dataclasses.replace(model, scheduler_config={**model.scheduler_config, "timestep_spacing": spacing})
        seeds = np.stack([noise_latent(seed, model.latent_shape) for seed in range(args.samples)])
        samples = decode(model, seeds, args.steps, batch_size=args.batch)
        fd = frechet_distance(features(regressor, samples), features_a)
        grainy = int((grain(samples[:32]) > threshold).sum())
        started = time.perf_counter()
        latents = embed_images(model, images, args.steps, batch=args.batch)
        seconds = (time.perf_counter() - started) / len(images)
        scores = [psnr(a, b) for a, b in zip(decode(model, latents, args.steps, batch_size=args.batch), images, strict=True)]
        config = model.scheduler_config
        schedule = (f"{config.get('prediction_type', 'epsilon')}, clip {'on' if config.get('clip_sample') else 'off'}, "
                    f"{config.get('timestep_spacing', 'leading')} spacing")
        print(f"{spec[-33:]:<34}{schedule:<40}{fd:>6.2f}{grainy:>10d}"
              f"{np.mean(scores):>7.2f}{np.min(scores):>7.2f}{seconds:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
