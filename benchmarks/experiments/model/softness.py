"""Issue 13: where toy-heads' Fréchet gap comes from. For each model folder: the Fréchet distance of N samples
(regressor features, against 1,000 held-out renders) and the regressor's reading of every factor on samples and
renders; once, the same for renders blurred by a Gaussian of 0.4 and 0.6 pixels (how softness alone scores).

    N=400 STEPS=50 [DEVICE=cuda] python benchmarks/experiments/model/softness.py resources/models/toy-heads /tmp/lownoise
"""
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

from latent_studio.core.metrics import frechet_distance
from latent_studio.core.seeds import noise_latent
from latent_studio.demo.evaluation import EVALUATION_SEED, held_out_renders
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import features, load_regressor, predict
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model

N, STEPS, DEVICE = int(os.environ.get("N", 400)), int(os.environ.get("STEPS", 50)), os.environ.get("DEVICE", "cpu")
regressor = load_regressor("resources/demo/factor_regressor.safetensors")
renders, _ = held_out_renders(1000, 64)
reference = features(regressor, renders)
others, _ = held_out_renders(N, 64, EVALUATION_SEED + 1)
EYE = FACTOR_NAMES.index("eye_open")


def line(name: str, images: np.ndarray) -> None:
    readings = predict(regressor, images)
    stds = ", ".join(f"{f} {readings[:, i].std():.3f}" for i, f in enumerate(FACTOR_NAMES) if f in ("yaw", "light_angle", "skin_tone"))
    print(f"{name:<36} FD {frechet_distance(features(regressor, images), reference):.3f}  eye_open "
          f"{readings[:, EYE].mean():.3f} ± {readings[:, EYE].std():.3f}  std {stds}", flush=True)


for sigma in (0.0, 0.4, 0.6):
    blurred = np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(sigma))) for x in others]) if sigma else others
    line(f"{N} other renders, blur {sigma} px", blurred)
for folder in sys.argv[1:]:
    model = load_model(folder, device=DEVICE, dtype="float32")
    samples = decode(model, np.stack([noise_latent(s, model.latent_shape) for s in range(N)]), STEPS, batch_size=16 if DEVICE == "cpu" else 250)
    line(f"{folder}: {N} samples at {STEPS} steps", samples)
