"""Latent files: one safetensors file holding ``latent`` (C, H, W) or (N, C, H, W) float32.

The metadata (strings only, as safetensors requires) records which model made
the latent, so a latent decoded with another model can be flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import LatentFileError
from latent_studio.core.latent_math import latent_refusal
from latent_studio.core.safetensors_header import read_metadata

FORMAT = "latent-studio.latent"
FORMAT_VERSION = "1"
TENSOR_KEY = "latent"


@dataclass(frozen=True)
class LatentFile:
    latent: np.ndarray  # float32, (N, C, H, W)
    metadata: dict[str, str] = field(default_factory=dict)


def save_latent(path: Path, latent: np.ndarray, metadata: dict[str, str] | None = None) -> None:
    array = np.ascontiguousarray(np.asarray(latent, dtype=np.float32))
    problem = latent_refusal(array)
    if problem:
        raise LatentFileError(f"Refusing to save it: {problem[0].lower()}{problem[1:]}")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    atomic_write_bytes(Path(path), _st_save({TENSOR_KEY: array}, metadata=meta))


IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")


def _other_kind(data: bytes) -> str | None:
    """What a file given as a latent is instead, with the command that takes it, for the files people mix up."""
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive, such as a Latent Studio project (render one with `latent-studio render PROJECT -o OUT`)"
    if data.startswith(IMAGE_SIGNATURES):
        return "an image (make its latent with `latent-studio embed IMAGE -o LATENT.safetensors`)"
    return None


def load_latent(path: Path) -> LatentFile:
    """Read and check a latent file; always returns float32 (N, C, H, W)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LatentFileError(f"Latent file {path} does not exist.")
    data = path.read_bytes()
    if not data:
        raise LatentFileError(f"Latent file {path} is empty (0 bytes).")
    try:
        tensors = _st_load(data)
        metadata = read_metadata(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        other = _other_kind(data)
        if other:
            raise LatentFileError(f"{path} is {other}, not a latent file (.safetensors).") from exc
        raise LatentFileError(
            f"{path} is not a readable safetensors latent file ({exc}); it may be damaged or incompletely copied."
        ) from exc
    if TENSOR_KEY not in tensors:
        raise LatentFileError(f"{path} holds no tensor named '{TENSOR_KEY}' (found: {', '.join(tensors) or 'none'}).")
    array = tensors[TENSOR_KEY]
    if not np.issubdtype(array.dtype, np.floating):
        raise LatentFileError(f"{path} holds a {array.dtype} tensor; a latent must be floating point.")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise LatentFileError(f"{path} holds a tensor of shape {array.shape}; a latent is (C, H, W) or (N, C, H, W).")
    problem = latent_refusal(array, str(path))
    if problem:
        raise LatentFileError(problem)
    return LatentFile(latent=array.astype(np.float32), metadata=metadata)

