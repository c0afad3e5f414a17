"""Peak memory of opening hostile project files, each in a fresh child process (ru_maxrss).

    python benchmarks/bench_hostile.py [--inflate-mb 900]

Builds a small valid project, then a "bomb": the same manifest with its
latents member replaced by N MB of zeros deflated to about N KB. Prints, for
each file, its size, the child's peak resident memory and the one sentence
the loader answered with. The baseline row (the valid project) shows what the
interpreter and numpy cost by themselves.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHILD = """
import resource, sys
from latent_studio.core.project_file import load_project
try:
    load_project(sys.argv[1])
    outcome = "opened"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, outcome[:150])
"""


def small_project_bytes() -> bytes:
    from latent_studio.core.keyframes import Keyframe
    from latent_studio.core.project import Asset, ModelRef, Project, Settings
    from latent_studio.core.project_file import project_bytes
    from latent_studio.core.seeds import noise_latent

    project = Project(ModelRef("toy-heads", "ab" * 32), Settings())
    project.assets["a"] = Asset("a", "seed", "Seed 1", noise_latent(1, (3, 64, 64)), "seed 1", seed=1)
    project.anchors = (Keyframe(0.0, "a"),)
    return project_bytes(project)


def bomb(good: bytes, inflate_mb: int, members: int = 1) -> bytes:
    """``good`` with latents.safetensors (and ``members - 1`` extra thumbnails) inflating to ``inflate_mb`` MB each."""
    source = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename != "latents.safetensors":
                target.writestr(info.filename, source.read(info))
        names = ["latents.safetensors"] + [f"thumbnails/x{i}.png" for i in range(members - 1)]
        for name in names:
            with target.open(name, "w", force_zip64=True) as handle:
                for _ in range(inflate_mb):
                    handle.write(zeros)
    return out.getvalue()


def measure(path: Path) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
    peak, outcome = result.stdout.strip().split(" ", 1)
    return int(peak), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inflate-mb", type=int, default=900)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ls-hostile-"))
    good = small_project_bytes()
    files = {"valid project": good, f"latents inflate to {args.inflate_mb} MB": bomb(good, args.inflate_mb),
             f"3 members inflate to {args.inflate_mb} MB": bomb(good, args.inflate_mb, members=3)}
    print(f"{'file':<34} {'size':>10} {'peak RSS':>10}  outcome")
    for label, data in files.items():
        path = folder / (label.replace(" ", "_") + ".lsproj")
        path.write_bytes(data)
        peak, outcome = measure(path)
        print(f"{label:<34} {len(data) / 1e6:>8.2f}MB {peak:>8d}MB  {outcome}")


if __name__ == "__main__":
    main()
