"""Choosing where and in which precision the model runs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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
    dtype: torch.dtype  # of the weights, and of every computation but decoding's where decode_dtype says
    decode_dtype: torch.dtype | None = None  # decoding (DDIM sampling) under autocast in this precision

    def describe(self) -> str:
        text = f"{self.device} ({dtype_name(self.dtype)}"
        if self.decode_dtype is not None:
            text += f", decoding in {dtype_name(self.decode_dtype)}"
        return text + ")"

    @property
    def decoding(self) -> torch.dtype:
        return self.decode_dtype or self.dtype

    @property
    def numerics(self) -> tuple[str, str, str]:
        """What of the placement decides a result's numbers (the device's kind, not its index), for cache keys."""
        return self.device.type, dtype_name(self.dtype), dtype_name(self.decoding)


def choose_placement(device: str | None = None, dtype: str | None = None,
                     decode_dtype: str | None = None) -> Placement:
    """CUDA with bf16 (fp16 where bf16 is missing), else Apple MPS in fp16, else the CPU in fp32, decoding in
    bf16 where the CPU computes bf16 natively (AVX512-BF16 or AMX).

    Why the CPU decodes in bf16 but embeds in fp32: on a 2-core AVX512-BF16 CPU the bundled model renders 1.4x
    faster in bf16 (UNet at batch 16: 5.7 against 7.7 ms a frame-step; benchmarks/bench_render.py) while its frames
    stay within 53 dB of fp32's on average (43 dB at worst, a hairline moved by a fraction of a pixel;
    benchmarks/experiments/speed/cpu_bf16_quality.py), whereas inversion with bf16 weights was 1.3x slower (its
    fixed-point iterations stop at a tolerance bf16's rounding does not reach) and less exact (64 against 68 dB).
    Without those instructions bf16 is emulated and slower, so such CPUs stay in fp32.

    Either half may be overridden (an explicit ``dtype`` is used for everything, unless ``decode_dtype`` is
    given too); the environment variable LATENT_STUDIO_CPU_DTYPE does the same for a CPU (for the app, which has
    no --dtype). An impossible request fails with what to do.
    """
    chosen_device = _parse_device(device) if device else _auto_device()
    if dtype:
        return Placement(chosen_device, _parse_dtype(dtype), _parse_dtype(decode_dtype) if decode_dtype else None)
    chosen = _auto_dtype(chosen_device)
    if chosen is None:  # the CPU's default
        return Placement(chosen_device, torch.float32, torch.bfloat16 if cpu_computes_bf16() else None)
    return Placement(chosen_device, chosen)


@contextlib.contextmanager
def decoding_precision(placement: Placement) -> Iterator[None]:
    """While inside, the model computes in the placement's decoding precision (autocast; its output and the DDIM
    state stay float32)."""
    if placement.decode_dtype is None or placement.decode_dtype == placement.dtype:
        yield
        return
    with torch.autocast(placement.device.type, dtype=placement.decode_dtype):
        yield


def _auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _auto_dtype(device: torch.device) -> torch.dtype | None:
    """The precision for ``device``; None for a CPU left to its default."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    chosen = os.environ.get(CPU_DTYPE_VARIABLE)
    if not chosen:
        return None
    if chosen.lower() not in _DTYPES:
        raise UserError(f"{CPU_DTYPE_VARIABLE} is '{chosen}': set it to float32 or bfloat16, or unset it.")
    return _DTYPES[chosen.lower()]


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX)."""
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


def dtype_name(dtype: torch.dtype) -> str:
    """'float32', 'bfloat16', ...: as --dtype takes it."""
    return str(dtype).replace("torch.", "")
