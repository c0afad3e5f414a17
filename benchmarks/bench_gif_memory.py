"""Peak memory of a GIF export against its length, each run in a fresh child process (ru_maxrss).

    python benchmarks/bench_gif_memory.py [--size 1024] [--frames 12 72] [--writer-from FILE]

Frames are smooth random colour fields (a face-like amount of detail), written
through ``media.export.GifWriter``. ``--writer-from`` loads the writer from
another copy of media/export.py (e.g. ``git show HEAD~1:latent_studio/media/export.py > /tmp/old.py``)
to compare side by side. The figure that matters is the growth from the
shortest to the longest clip: a streaming writer keeps it flat.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

CHILD = """
import importlib.util, resource, sys
from fractions import Fraction
from pathlib import Path
import numpy as np
from PIL import Image

size, frames, out, source = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
if source:
    spec = importlib.util.spec_from_file_location("export_under_test", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
else:
    from latent_studio.media import export as module
rng = np.random.default_rng(0)
small = rng.integers(0, 255, (frames, 16, 16, 3), dtype=np.uint8)
writer = module.GifWriter(out, Fraction(24))
for i in range(frames):
    writer.write(np.asarray(Image.fromarray(small[i]).resize((size, size), Image.Resampling.BICUBIC)))
writer.finish()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, out.stat().st_size // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--frames", type=int, nargs="+", default=[12, 72])
    parser.add_argument("--writer-from", default="")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="ls-gif-")
    print(f"{'frames':>6} {'size':>9} {'peak RSS':>9} {'file':>9}")
    peaks = []
    for count in args.frames:
        result = subprocess.run([sys.executable, "-c", CHILD, str(args.size), str(count), f"{folder}/clip{count}.gif",
                                 args.writer_from], capture_output=True, text=True, check=True)
        peak, kilobytes = (int(v) for v in result.stdout.split())
        peaks.append(peak)
        print(f"{count:>6} {args.size:>4}x{args.size:<4} {peak:>7}MB {kilobytes // 1024:>7}MB")
    print(f"growth from {args.frames[0]} to {args.frames[-1]} frames: {peaks[-1] - peaks[0]} MB")


if __name__ == "__main__":
    main()
