"""The same frames rendered by one process and by a local Ray cluster of N single-threaded workers.

Same project, frames, steps, batch and model, in one run. Prints frames/s of
each, the workers' start-up (each loads torch and the model once), the ratio
with and without it, and the largest pixel difference to the one-process
frames. Ray runs its workers at a lower priority (nice 15), so on a machine
busy with other work they are slowed more than the one process is.

    python benchmarks/bench_cluster.py [--frames 24] [--steps 10] [--batch 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latent_studio.app.cluster_render import RayFrames
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.engine.render import render_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=(resources_dir() or Path("resources")) / "examples" / "head_turn.lsproj")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        sys.exit('bench_cluster needs Ray: pip install "latent-studio[cluster]"')

    project = load_project(args.project)
    model = load_model(project.model.spec, device="cpu")
    frames = list(range(min(args.frames, project.settings.frame_count)))
    print(f"{args.project.name}: {len(frames)} frames x {args.steps} DDIM steps, batch {args.batch}, on "
          f"{model.source.spec} ({model.placement.describe()}), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n")

    list(render_frames(model, project, frames[:2], 2, batch_size=2))  # warm-up
    started = time.perf_counter()
    local = np.stack([f.image for f in render_frames(model, project, frames, args.steps, batch_size=args.batch)])
    local_s = time.perf_counter() - started

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        source = RayFrames(chunk=args.batch, workers=args.workers, threads=1)
        started = time.perf_counter()
        farm = np.stack([f.image for f in source(model, project, frames, args.steps, batch_size=args.batch)])
        farm_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    render_s = farm_s - source.ready_s
    n = len(frames)
    rows = [
        (f"one process, {torch.get_num_threads()} torch threads", f"{n / local_s:.2f}", "1.00", "", ""),
        (f"Ray, {args.workers} workers x 1 thread, with start-up", f"{n / farm_s:.2f}", f"{local_s / farm_s:.2f}",
         f"{source.ready_s:.1f}", f"{int(np.abs(farm.astype(int) - local.astype(int)).max())}"),
        (f"Ray, {args.workers} workers x 1 thread, rendering only", f"{n / render_s:.2f}", f"{local_s / render_s:.2f}",
         "", ""),
    ]
    header = ("", "frames/s", "ratio", "start-up s", "max |diff|")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


if __name__ == "__main__":
    main()
