"""Choosing where and in which precision the model runs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from latent_studio.core.errors import UserError

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


CPU_DTYPE_VARIABLE = "LATENT_STUDIO_CPU_DTYPE"


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype

    def describe(self) -> str:
        return f"{self.device} ({str(self.dtype).replace('torch.', '')})"


def choose_placement(device: str | None = None, dtype: str | None = None) -> Placement:
    """CUDA with bf16 (fp16 where bf16 is missing), else Apple MPS in fp16, else the CPU: in bf16 where it
    computes bf16 natively (AVX512-BF16 or AMX), else fp32; the environment variable LATENT_STUDIO_CPU_DTYPE
    sets the CPU's (for the app, which has no --dtype).

    Either half may be overridden; an impossible request fails with what to do.
    """
    chosen_device = _parse_device(device) if device else _auto_device()
    chosen_dtype = _parse_dtype(dtype) if dtype else _auto_dtype(chosen_device)
    return Placement(chosen_device, chosen_dtype)


def _auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _auto_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    chosen = os.environ.get(CPU_DTYPE_VARIABLE)
    if chosen:
        if chosen.lower() not in _DTYPES:
            raise UserError(f"{CPU_DTYPE_VARIABLE} is '{chosen}': set it to float32 or bfloat16, or unset it.")
        return _DTYPES[chosen.lower()]
    return torch.bfloat16 if cpu_computes_bf16() else torch.float32


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX).

    Why bf16 there: on a 2-core AVX512-BF16 CPU the bundled model renders 1.4x faster in bf16 than in fp32 (UNet
    at batch 16: 5.7 against 7.7 ms a frame-step), while its frames stay within 52 dB of fp32's on average (41 dB
    at worst, an edge moved by a pixel fraction; benchmarks/bench_render.py). Without those instructions bf16
    is emulated and slower, so such CPUs stay in fp32.
    """
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            continue
    return False


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def _parse_device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise UserError(f"Unknown device '{text}': use cpu, cuda, cuda:N or mps.") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"Device '{text}' was asked for, but this PyTorch ({torch.__version__}) sees no CUDA GPU; "
                "use --device cpu, or install a CUDA build of PyTorch."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"Device '{text}' does not exist: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
    elif device.type == "mps" and not _mps_available():
        raise UserError("Device 'mps' was asked for, but Apple Metal is not available here; use --device cpu.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"Device '{text}' is not supported: use cpu, cuda, cuda:N or mps.")
    return device


def _parse_dtype(text: str) -> torch.dtype:
    try:
        return _DTYPES[text.lower()]
    except KeyError:
        raise UserError(f"Unknown precision '{text}': use float32, float16 or bfloat16.") from None
