"""Choosing where and in which precision the model runs."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype

    def describe(self) -> str:
        return f"{self.device} ({str(self.dtype).replace('torch.', '')})"


def choose_placement(device: str | None = None, dtype: str | None = None) -> Placement:
    """CUDA with bf16 (fp16 where bf16 is missing), else Apple MPS in fp16, else CPU fp32.

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
    return torch.float32


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
