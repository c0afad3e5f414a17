"""Evaluate every frame of a 10-minute 60 fps timeline (36,000 frames): 20 direction tracks, 30 anchors.

Frame evaluation runs for every scrub, every preview and every render, so it
must stay far below the cost of a frame. Prints the time per call and per
frame for one evaluation path per row, side by side in one run.

    python benchmarks/bench_timeline.py
"""

from __future__ import annotations

import time

import numpy as np

from latent_studio.core.keyframes import Interpolation, Keyframe
from latent_studio.core.project import (
    Asset,
    Direction,
    ModelRef,
    Project,
    Settings,
    StrengthTrack,
    evaluate,
    evaluate_frames,
)

MODES = list(Interpolation)


def build(directions: int = 20, anchors: int = 30, keys_per_track: int = 40) -> Project:
    rng = np.random.default_rng(0)
    settings = Settings(fps="60", duration=600.0)
    project = Project(ModelRef("bench", "0" * 64), settings)
    shape = (3, 4, 4)
    for i in range(anchors):
        project.assets[f"a{i}"] = Asset(f"a{i}", "seed", f"A{i}", rng.standard_normal(shape).astype(np.float32))
    times = np.linspace(0, settings.duration, anchors)
    project.anchors = tuple(Keyframe(float(t), f"a{i}", MODES[i % len(MODES)]) for i, t in enumerate(times))
    for d in range(directions):
        project.directions[f"d{d}"] = Direction(f"D{d}", np.zeros(shape, np.float32), "bench", (-1, 1), "0" * 64, id=f"d{d}")
        key_times = np.sort(rng.choice(np.arange(0, 600.0, 0.25), keys_per_track, replace=False))
        project.strengths[f"d{d}"] = StrengthTrack(tuple(
            Keyframe(float(t), float(rng.uniform(-1, 1)), MODES[k % len(MODES)]) for k, t in enumerate(key_times)))
    return project


def main() -> None:
    project = build()
    frames = project.settings.frame_count
    rows = []
    started = time.perf_counter()
    one_by_one = [evaluate(project, project.settings.frame_time(i)) for i in range(frames)]
    rows.append(("evaluate(project, t) per frame", time.perf_counter() - started))
    started = time.perf_counter()
    compiled = evaluate_frames(project, range(frames))
    rows.append(("evaluate_frames(project, all frames)", time.perf_counter() - started))
    assert compiled == one_by_one, "the two paths must agree frame for frame"
    print(f"{frames} frames, {len(project.strengths)} direction tracks (40 keyframes each), {len(project.anchors)} anchors")
    print(f"{'path':<40}{'total s':>10}{'us/frame':>10}{'ratio':>8}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>10.2f}{seconds / frames * 1e6:>10.1f}{rows[0][1] / seconds:>7.1f}x")


if __name__ == "__main__":
    main()
