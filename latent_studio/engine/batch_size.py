"""How many frames to decode together when the user names no batch: what free memory holds, capped where more
stops helping.

Why a cap: on a CPU a bigger batch gains little past 16 (the 2-core CPU,
bench_render.py --batch 8 16 32 --repeat 3: 1.88x, 2.06x, 2.12x the plain
loop), while a GPU keeps gaining up to tens of frames at the demo's size
(issue 19: 108 frames/s at batch 64 on an H100). Why half the free
memory: the per-frame figure is an estimate and other work shares the device;
a CUDA out-of-memory error still halves the batch (engine.render).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CPU_CAP = 16
CPU_BATCH_BYTES = 2 << 30  # a CPU batch's working memory: past it a bigger batch is slower, not faster
CUDA_CAP = 64
HEADROOM = 0.5  # the share of free memory one batch may take


def choose_batch(free_bytes: int | None, per_frame_bytes: int, device_type: str) -> int:
    """Frames per batch: as many as ``HEADROOM`` of ``free_bytes`` holds at ``per_frame_bytes`` each, between 1 and
    the device's cap (the cap alone when free memory is unknown).

    On a CPU the cap also keeps a batch's working memory within ``CPU_BATCH_BYTES``: a 256x256 pixel UNet (2.2 GiB
    a frame) already keeps the CPU busy one frame at a time and batching only spills caches (batch 2: 0.97-1.04x
    the plain loop, batch 4: 0.74-0.91x), while the demo model (16 MiB) gains up to batch 16 and a 256x256
    Stable Diffusion (417 MiB) 1.39x at batch 4 against 1.47x at 16 (benchmarks/bench_roofline.py on the 2-core
    CPU)."""
    cap = CUDA_CAP if device_type == "cuda" else min(CPU_CAP, max(1, CPU_BATCH_BYTES // max(1, per_frame_bytes)))
    if free_bytes is None:
        return cap
    fits = int(free_bytes * HEADROOM) // max(1, per_frame_bytes)
    return max(1, min(cap, fits))


def free_memory(device: torch.device, meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes free for a batch: the GPU's free memory on CUDA, else the RAM the system has available; None when
    the system does not say."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def frame_bytes(model: Any) -> int:
    """Working memory of one frame in one denoiser call, from one call at batch 1: on CUDA the measured peak above
    what was allocated before; elsewhere the bytes of every layer's output (more than is alive at once, so safe)."""
    family, device = model.family, model.placement.device
    x = torch.zeros((1, *model.latent_shape), device=device)
    t = int(model.scheduler_config.get("num_train_timesteps", 1000)) - 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            family.denoise(x, t)
        torch.cuda.synchronize(device)
        return max(1, torch.cuda.max_memory_allocated(device) - before)
    total = 0

    def count(module, inputs, output) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.nbytes

    leaves = [m for m in family.denoiser.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.inference_mode():
            family.denoise(x, t)
    finally:
        for hook in hooks:
            hook.remove()
    return max(1, total)


def auto_batch(model: Any) -> int:
    """``render --batch auto``: the batch ``choose_batch`` picks for this model on its device, now."""
    return choose_batch(free_memory(model.placement.device), frame_bytes(model), model.placement.device.type)
