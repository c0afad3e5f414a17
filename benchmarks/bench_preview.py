"""Draft quality for the canvas: each draft method against the final frame, on the bundled examples.

    python benchmarks/bench_preview.py [--frames 8] [--steps 2,3,4,6,8]

For each example and method, the draft's PSNR against the final frame (the
example's final steps of DDIM; median and min over evenly spaced frames) and
milliseconds per frame, one frame at a time as the canvas decodes, with the
ratio to the final frame's time. The final frame is the render pipeline's
(an edit along a direction with source attention is decoded beside its
source, as the canvas and Export show it). Methods: the model's draft decoder
(one pass; what the canvas draws when the model has one), DDIM at few steps
(what it draws otherwise) and DPM-Solver++ 2M (diffusers), a higher-order
solver of the same probability-flow ODE. Bars (issue 22): median >= 22 dB,
min >= 18 dB, at <= 1/10 of the final frame's time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DPMSolverMultistepScheduler

from latent_studio.core.metrics import psnr
from latent_studio.core.project import evaluate_frames, frame_latent
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.ddim import to_uint8
from latent_studio.engine.decode import decode
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.models import load_model
from latent_studio.engine.render import render_frames


def dpm_solver(model, latent: np.ndarray, steps: int) -> np.ndarray:
    """DPM-Solver++ 2M from the same x_T (no added noise: deterministic like DDIM)."""
    config = {k: v for k, v in model.scheduler_config.items() if not k.startswith("_")}
    scheduler = DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    scheduler.set_timesteps(steps)
    x = torch.from_numpy(latent[None]).float()
    with torch.inference_mode():
        for t in scheduler.timesteps:
            out = model.family.unet(x, t.expand(1)).sample.float()
            x = scheduler.step(out, t, x).prev_sample
    return to_uint8(x).numpy()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", default="2,3,4,6,8")
    args = parser.parse_args()
    counts = [int(s) for s in args.steps.split(",")]
    model = load_model("toy-heads", device="cpu")
    examples = sorted((resources_dir() / "examples").glob("*.lsproj"))
    print(f"{args.frames} frames per example, one at a time, CPU with {torch.get_num_threads()} threads")
    print(f"  {'example':10s} {'method':22s} {'median dB':>9s} {'min dB':>7s} {'ms/frame':>9s} {'x final':>8s}")
    for path in examples:
        project = load_project(Path(path))
        final_steps = project.settings.final_steps
        indices = np.linspace(0, project.settings.frame_count - 1, args.frames).round().astype(int).tolist()
        latents = [frame_latent(project, spec) for spec in evaluate_frames(project, indices)]
        started = time.perf_counter()
        finals = [next(render_frames(model, project, [index], final_steps)).image for index in indices]
        final_ms = 1000 * (time.perf_counter() - started) / len(latents)
        print(f"  {path.stem:10s} {f'final: DDIM {final_steps}':22s} {'':>9s} {'':>7s} {final_ms:9.0f} {1:8.2f}")
        methods = [("draft decoder, 1 pass", lambda lat: decode(model, lat, DRAFT_PASS)[0])] if model.draft else []
        methods += [(f"DDIM {n}", lambda lat, n=n: decode(model, lat, n)[0]) for n in counts]
        methods += [(f"DPM-Solver++ {n}", lambda lat, n=n: dpm_solver(model, lat, n)) for n in counts]
        for name, draw in methods:
            started = time.perf_counter()
            drafts = [draw(latent) for latent in latents]
            ms = 1000 * (time.perf_counter() - started) / len(latents)
            scores = [psnr(d, f) for d, f in zip(drafts, finals, strict=True)]
            print(f"  {path.stem:10s} {name:22s} {np.median(scores):9.2f} {np.min(scores):7.2f} {ms:9.0f} "
                  f"{ms / final_ms:8.2f}", flush=True)


if __name__ == "__main__":
    main()
