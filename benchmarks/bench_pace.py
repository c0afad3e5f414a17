"""Even pace on the bundled morph example: how evenly the picture changes from frame to frame, before and after.

    python benchmarks/bench_pace.py [--steps 20] [--samples 16]

For every morph segment of the example, the change between consecutive
frames (RMS of the pictures reduced to 32x32, as engine/pace.py measures)
is summarised by its coefficient of variation (std / mean: 0 is perfectly
even) and its largest step relative to the mean, without and with even
pace, for the segment made linear (even pace makes equal steps of the
easing equal steps of change, so an ease-in-out stays slow at its ends on
purpose) and with the easing as saved; and the time the measurement took.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from latent_studio.core.keyframes import Interpolation
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.core.metrics import reduced_picture
from latent_studio.engine.pace import measure_pace
from latent_studio.engine.render import render_frames


def evenness(model, project, frames, steps) -> tuple[float, float]:
    images = [f.image for f in render_frames(model, project, frames, steps)]
    change = np.array([np.sqrt(np.mean((reduced_picture(b) - reduced_picture(a)) ** 2)) for a, b in zip(images, images[1:])])
    return float(change.std() / change.mean()), float(change.max() / change.mean())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps of the frames (default: final steps)")
    parser.add_argument("--measure-steps", type=int, default=None, help="steps of the pace measurement (default: --steps)")
    parser.add_argument("--samples", type=int, default=33, help="decodes per measurement (engine.pace)")
    args = parser.parse_args()
    model = load_model("toy-heads")
    project = load_project(resources_dir() / "examples" / "morph.lsproj")
    settings = project.settings
    args.steps = args.steps or settings.final_steps
    measure_steps = args.measure_steps or args.steps
    print(f"morph example, frames at {args.steps} steps, pace measured at {measure_steps} steps "
          f"with {args.samples} decodes")
    print(f"{'segment':<8} {'easing':<12} {'CV before':>10} {'CV after':>9} {'max/mean before':>16} {'after':>6} {'measure s':>10}")
    for index in range(len(project.anchors) - 1):
        start, end = project.anchors[index], project.anchors[index + 1]
        first = round(start.time * float(settings.rate))
        last = min(settings.frame_count - 1, round(end.time * float(settings.rate)))
        frames = list(range(first, last + 1))
        started = time.perf_counter()
        pace = measure_pace(model, project, index, measure_steps, samples=args.samples)
        seconds = time.perf_counter() - started
        for easing in (Interpolation.LINEAR, start.interpolation):
            versions = []
            for table in ((), pace):
                anchors = list(project.anchors)
                anchors[index] = dataclasses.replace(start, interpolation=easing, pace=table)
                versions.append(evenness(model, dataclasses.replace(project, anchors=tuple(anchors)), frames, args.steps))
            (before, before_max), (after, after_max) = versions
            print(f"{index:<8} {easing.value:<12} {before:>10.3f} {after:>9.3f} {before_max:>16.2f} {after_max:>6.2f} "
                  f"{seconds:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
