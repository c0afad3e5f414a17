"""Exporting the head-turn example with the writer inline vs on its own thread (app.write_behind), side by side.

Same project, frames, steps and model in one run; every export decodes afresh
(no frame cache). Per format, prints seconds and frames/s of each and the
ratio, plus the writer's own cost (the same export fed pre-rendered frames):
the overlap can hide at most that much.

    python benchmarks/bench_export_overlap.py [--project resources/examples/head_turn.lsproj] [--frames 48]
        [--steps 20] [--batch 8] [--formats mp4 png] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.engine.render import render_frames
from latent_studio.media.export import FORMATS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=(resources_dir() or Path("resources")) / "examples" / "head_turn.lsproj")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--formats", nargs="+", default=["mp4", "png"])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    parser.add_argument("--device")
    args = parser.parse_args()

    project = load_project(args.project)
    model = load_model(project.model.spec, device=args.device)
    last = min(args.frames, project.settings.frame_count) - 1
    s = project.settings
    print(f"{args.project.name}: frames 0-{last} at {s.width}x{s.height} ({s.upscale}), {args.steps} DDIM steps, "
          f"batch {args.batch}, {model.placement.describe()}, torch threads {torch.get_num_threads()}\n")
    list(render_frames(model, project, [0, 1], 2, batch_size=2))  # warm-up
    rendered = list(render_frames(model, project, range(last + 1), args.steps, batch_size=args.batch))

    def prerendered(*_args, **_kwargs):
        return iter(rendered)

    print(f"{'format':<8}{'writer alone':>14}{'inline s':>10}{'thread s':>10}{'inline f/s':>12}{'thread f/s':>12}"
          f"{'thread vs inline':>18}")
    with tempfile.TemporaryDirectory() as folder:
        for key in args.formats:
            fmt = FORMATS[key]
            options = ExportOptions(fmt, last_frame=last, steps=args.steps, batch_size=args.batch)

            def run(name: str, **kwargs) -> float:
                best = float("inf")
                for i in range(args.repeat):
                    out = Path(folder) / f"{name}{i}{fmt.suffix}"
                    started = time.perf_counter()
                    export_project(project, model, out, options, **kwargs)
                    best = min(best, time.perf_counter() - started)
                return best

            writer_alone = run("alone", source=prerendered, writer_thread=False)
            inline = run("inline", writer_thread=False)
            threaded = run("thread", writer_thread=True)
            frames = last + 1
            print(f"{key:<8}{writer_alone:>14.2f}{inline:>10.2f}{threaded:>10.2f}{frames / inline:>12.2f}"
                  f"{frames / threaded:>12.2f}{inline / threaded:>17.2f}x")


if __name__ == "__main__":
    main()
