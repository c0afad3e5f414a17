"""Bytes per pixel of every export format and quality, on the bundled examples' frames.

    python benchmarks/bench_export_size.py [--frames 24] [--steps 50]

The export dialog's size estimate (``app/export_estimate.py``) is read from
this table: each example's first frames are rendered once (a shared frame
cache), then written in every format at the model's size and at 1920x1080
(fit), and the file sizes are divided by the pixels written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.project_file import load_project
from latent_studio.core.resources import resources_dir
from latent_studio.engine.models import load_model
from latent_studio.engine.render import FrameCache
from latent_studio.media.export import FORMATS, QUALITIES

SIZES = {"model": None, "1080p": (1920, 1080)}


def written_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    model = load_model("toy-heads")
    cache = FrameCache()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for example in ("head_turn", "morph"):
            project = load_project(resources_dir() / "examples" / f"{example}.lsproj")
            for key, fmt in FORMATS.items():
                for quality in QUALITIES if fmt.quality_option else ("standard",):
                    for size_name, size in SIZES.items():
                        out = Path(scratch) / f"{example}-{key}-{quality}-{size_name}{fmt.suffix}"
                        options = ExportOptions(fmt, last_frame=args.frames - 1, steps=args.steps, size=size,
                                                quality=quality)
                        result = export_project(project, model, out, options, cache=cache)
                        pixels = result.size[0] * result.size[1] * result.frames
                        rows.append((example, key, quality if fmt.quality_option else "-", size_name,
                                     written_bytes(result.path) / pixels))
    print(f"Bytes per pixel written, {args.frames} frames of each example at {args.steps} steps")
    print(f"{'example':<10} {'format':<11} {'quality':<9} {'size':<6} bytes/pixel")
    for example, key, quality, size_name, bpp in rows:
        print(f"{example:<10} {key:<11} {quality:<9} {size_name:<6} {bpp:.4f}")
    print("\nMean of the two examples (what app/export_estimate.py uses):")
    for key in FORMATS:
        for quality in dict.fromkeys(r[2] for r in rows if r[1] == key):
            means = [sum(r[4] for r in rows if r[1:4] == (key, quality, size_name)) / 2 for size_name in SIZES]
            print(f"    ({key!r}, {quality!r}): ({means[0]:.4f}, {means[1]:.4f}),")
    return 0


if __name__ == "__main__":
    sys.exit(main())
