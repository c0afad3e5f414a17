"""glibc's malloc set up for PyTorch on the CPU: the UNet's large activations reused from the heap, not mapped afresh.

Why: glibc serves an allocation above its mmap threshold (128 KiB at first)
with a fresh ``mmap`` and returns it with ``munmap``, so each of the UNet's
activations (1 to 16 MB at 64x64) costs page faults and zeroing on every call.
Raising the threshold to glibc's largest (32 MiB) and the trim threshold to
256 MiB lets freed activations be reused. On the 2-core development CPU a
bare decode ran 15% faster (32 frames at batch 16, 10 steps: 13.1-13.9
against 15.2-16.2 frames/s, two runs each) and the head-turn render 14-17%
(``python benchmarks/bench_render.py``, run again with
``LATENT_STUDIO_MALLOC=default``). The cost: the process may keep up to 256 MiB of freed memory
instead of handing it back. ``LATENT_STUDIO_MALLOC=default`` leaves glibc as
it is; other C libraries (musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV_VAR = "LATENT_STUDIO_MALLOC"
M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 256 << 20

_tuned = False


def tune_malloc() -> bool:
    """Set the thresholds once per process; True when they are set (now or before)."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get(ENV_VAR, "").strip().lower() == "default":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _tuned = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return _tuned


def malloc_tuned() -> bool:
    """Whether this process's malloc was tuned (benchmarks print it beside their figures)."""
    return _tuned
