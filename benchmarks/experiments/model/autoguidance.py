"""Issue 13: does autoguidance narrow toy-heads' Fréchet gap without training? (Karras et al. 2024, "Guiding a
diffusion model with a bad version of itself": the denoiser's output is pushed away from a weaker model's,
D = D_bad + W (D_good - D_bad), which for unconditional models too sharpens samples and restores their spread.)

The weaker model is an earlier version of toy-heads from the repository's history (the same architecture, trained
less): version 3 (FD 0.88) or version 2 (CPU-trained). Guidance stays deterministic, so a guided model is still a
DDIM latent space (inversion inverts the guided step); it costs two UNet calls a step. For each run: FD of N samples
against 1,000 held-out renders (regressor features), their eye opening and spread of yaw, and how many of the
32-seed grid are grainy.

    git archive 9f15f74 resources/models/toy-heads | tar -x -C /tmp/v3   # version 3
    N=400 RUNS=none,/tmp/v3/resources/models/toy-heads:1.5 python benchmarks/experiments/model/autoguidance.py
"""
import os

import numpy as np

from latent_studio.core.metrics import frechet_distance
from latent_studio.core.seeds import noise_latent
from latent_studio.demo.evaluation import grain, grain_threshold, held_out_renders
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import features, load_regressor, predict
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model

N, STEPS = int(os.environ.get("N", 400)), int(os.environ.get("STEPS", 50))
regressor = load_regressor("resources/demo/factor_regressor.safetensors")
renders, _ = held_out_renders(1000, 64)
reference = features(regressor, renders)
threshold = grain_threshold(64)
EYE, YAW = FACTOR_NAMES.index("eye_open"), FACTOR_NAMES.index("yaw")
seeds = np.stack([noise_latent(s, (3, 64, 64)) for s in range(N)])

for run in os.environ.get("RUNS", "none").split(","):
    model = load_model("resources/models/toy-heads", device="cpu", dtype="float32")
    if run != "none":
        folder, weight = run.rsplit(":", 1)
        bad, good_denoise, w = load_model(folder, device="cpu", dtype="float32"), model.family.denoise, float(weight)

        def guided(x, t, conditioning=None, bad=bad, good_denoise=good_denoise, w=w):
            weak = bad.family.denoise(x, t)
            return weak + w * (good_denoise(x, t) - weak)

        model.family.denoise = guided
    samples = decode(model, seeds, STEPS, batch_size=16)
    readings = predict(regressor, samples)
    grainy = int((grain(samples[:32]) > threshold).sum())
    print(f"{run:<48} FD {frechet_distance(features(regressor, samples), reference):.3f}  eye_open "
          f"{readings[:, EYE].mean():.3f} ± {readings[:, EYE].std():.3f}  yaw std {readings[:, YAW].std():.1f}  "
          f"grainy {grainy} of 32", flush=True)
