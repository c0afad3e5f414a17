"""Issue 14: the head turn's glasses change per group. The drift of the harness is a signed mean over all heads, so
bare heads that grow glasses and heads with glasses that lose them cancel; this prints the mean |change| of the
glasses reading (% of its range) at each strength for each group, with and without the shipped bend.

    python benchmarks/experiments/directions/glasses_by_group.py   (50 held-out heads, beside the source; 44 min on the 2-core CPU beside another job)
"""
import dataclasses
from pathlib import Path

import numpy as np

from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import HELD_OUT_STREAM, rendered_batch
from latent_studio.demo.direction_fitting import read_along
from latent_studio.demo.evaluation import EVALUATION_SEED
from latent_studio.demo.factors import FACTOR_NAMES
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.discovery import embed_images
from latent_studio.engine.models import load_model

model = load_model("toy-heads", device="cpu")
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
turn = next(d for d in model_directions(model) if d.name == "Head turn")
flat = dataclasses.replace(turn, split=dataclasses.replace(turn.split, absent_bend=None, present_bend=None))
batch = rendered_batch(EVALUATION_SEED + 2, HELD_OUT_STREAM, 0, model.latent_shape[-1], 50)
cache = Path("/tmp/held_50.npy")
held = np.load(cache) if cache.is_file() else embed_images(model, batch.images, 50)
truth = batch.factors[:, FACTOR_NAMES.index("glasses")] > 0.5
strengths = np.linspace(-60, 60, 9)
g = FACTOR_NAMES.index("glasses")
for name, d in (("no bend", flat), ("bend", turn)):
    r = read_along(model, regressor, held, d, strengths, 50, source_attention_from=0.0)
    ch = r[:, :, g] - r[4, :, g]
    print(name, "mean |change| bare:", np.round(np.abs(ch[:, ~truth]).mean(1) * 100, 1), flush=True)
    print(name, "mean |change| glasses:", np.round(np.abs(ch[:, truth]).mean(1) * 100, 1), flush=True)
    print(name, "signed mean all:", np.round(ch.mean(1) * 100, 1), flush=True)
