"""Issue 14: a fitted smile file lengthened, and made orthogonal to the glasses too, on the bench's 50 heads.

A smile fitted on 384 identities (`fit-demo-directions --only Smile --scale 4 --out DIR` with the plan at 96
identities, calibration capped at x22) is far cleaner than one fitted on 24 or 96, but it points 0.27 along the
Glasses direction and gave bare heads glasses. Each of VARIANTS is GAIN (the file's vector times it) or ortho:GAIN
(first made orthogonal to the model's Glasses and Head turn lines, keeping its length); each gets the harness's
row (decoded beside the source, as the smile ships). With GRID=PATH the example heads at +0.5 and +1 for the
first and the last variant are written there. Since this measurement, `fit-demo-directions --only Smile` writes
the shipped smile, already orthogonal to both and capped at x27.5 (as long as ortho:1.2 here).

    VARIANTS=1.2,ortho:1.2 GRID=/tmp/variants.png python benchmarks/experiments/directions/smile_variants.py DIR/02_smile.safetensors
"""
import os
import sys
import time
from dataclasses import replace

import numpy as np

from held_heads import example_grid, held_heads, print_row

from latent_studio.core.directions import load_direction, orthogonalise
from latent_studio.core.resources import resources_dir
from latent_studio.demo.evaluation import Sizes, direction_table
from latent_studio.demo.regressor import load_regressor
from latent_studio.engine.directions import model_directions
from latent_studio.engine.models import load_model

STEPS = 50
fitted = load_direction(sys.argv[1])
started = time.perf_counter()
model = load_model("toy-heads", device="cpu")
shipped = {d.name: d for d in model_directions(model)}
glasses, turn = shipped["Glasses"].vector, shipped["Head turn"].vector


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def variant(spec: str):
    kind, gain = spec.split(":") if ":" in spec else ("plain", spec)
    vector = fitted.vector
    if kind == "ortho":
        orthogonal = orthogonalise(vector, [glasses, turn])
        vector = orthogonal * np.linalg.norm(vector) / np.linalg.norm(orthogonal)
    return replace(fitted, vector=(vector * float(gain)).astype(np.float32))


print(f"cosine with Glasses {cosine(fitted.vector, glasses):.3f}, with Head turn {cosine(fitted.vector, turn):.3f}", flush=True)
specs = os.environ.get("VARIANTS", "1.2,ortho:1.2").split(",")
if os.environ.get("GRID"):
    first, last = variant(specs[0]), variant(specs[-1])
    example_grid(model, os.environ["GRID"], lambda latent: (first, last), (0.5, 1.0), STEPS)
regressor = load_regressor(resources_dir() / "demo" / "factor_regressor.safetensors")
held, wearing = held_heads(model, 50, STEPS)
for spec in specs:
    table = direction_table(model, regressor, held, variant(spec), "smile",
                            Sizes(heads=50, strengths=9, steps=STEPS, batch=32), wearing=wearing)
    print_row(spec, table, started, "smile")
