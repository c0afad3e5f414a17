"""Semantic directions in latent space: fitting them from labelled embeddings, and their files.

Three methods, all plain linear algebra on (N, C, H, W) latents:

(a) ``fit_binned_direction``: embed many examples, bin them by a labelled
    factor (e.g. yaw), and fit a line through the bin centroids (the
    head-rotation method of Asperti et al. 2023). Binning averages away
    everything that does not vary with the factor. The fit reports R²; when
    one line fits badly, ``fit_split_directions`` fits the two halves of the
    range (left and right turns) separately.
(b) ``mean_difference_direction``: mean of the positives minus mean of the
    negatives (glasses on / off).
(c) ``orthogonalise``: remove the components along other directions, to
    reduce entanglement (turning the head should not change the smile).

A direction's strength is in the factor's own units where it has them
(degrees of yaw), else 1.0 means "the full difference between the two sets".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import UserError
from latent_studio.core.safetensors_header import read_metadata

FORMAT = "latent-studio.direction"
FORMAT_VERSION = "1"


class DirectionFileError(UserError):
    """A direction file is unreadable or belongs to another model."""


@dataclass(frozen=True, eq=False)
class Direction:
    """The one direction record: as fitted and saved in a model's folder, and on a project's slider (with an id)."""

    name: str
    vector: np.ndarray  # float32 (C, H, W): latent change per unit of strength
    method: str
    strength_range: tuple[float, float]
    model_hash: str
    unit: str = ""
    info: dict[str, str] = field(default_factory=dict)  # how it was fitted (R², examples, calibration, ...)
    id: str = ""  # its key in a project's directions; empty in a model's direction file
    origin: str = "model"  # in a project: "model" (shipped with the model) or "user"
    # How an edit along it is decoded: None adds it to x_T and decodes (a plain edit); a fraction f in [0, 1]
    # also decodes the unedited latent beside it and, from f of the DDIM steps on, the edit reads the
    # source's self-attention, keeping light, hair and background (engine/source_attention.py).
    source_attention_from: float | None = None


@dataclass(frozen=True)
class LineFit:
    direction: np.ndarray  # per unit of the factor
    offset: np.ndarray  # the centroid line's value at factor 0
    r2: float  # fraction of the centroids' variance the line explains
    bin_centres: np.ndarray
    counts: np.ndarray


def bin_centroids(latents: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid latent, mean factor value and count of each non-empty equal-width bin."""
    latents = np.asarray(latents, np.float64).reshape(len(latents), -1)
    values = np.asarray(values, np.float64)
    if len(latents) != len(values):
        raise ValueError("one factor value per latent is needed")
    edges = np.linspace(values.min(), values.max(), bins + 1)
    index = np.clip(np.digitize(values, edges[1:-1]), 0, bins - 1)
    centroids, centres, counts = [], [], []
    for b in range(bins):
        members = index == b
        if members.any():
            centroids.append(latents[members].mean(axis=0))
            centres.append(values[members].mean())
            counts.append(int(members.sum()))
    return np.stack(centroids), np.array(centres), np.array(counts)


def fit_line(centroids: np.ndarray, centres: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares c_k = offset + centre_k * direction; returns (direction, offset, r2)."""
    if len(centres) < 2:
        raise ValueError("fitting a direction needs at least two non-empty bins")
    w = counts / counts.sum()
    mean_x = float(np.sum(w * centres))
    mean_c = np.sum(w[:, None] * centroids, axis=0)
    dx = centres - mean_x
    var_x = float(np.sum(w * dx * dx))
    if var_x == 0.0:
        raise ValueError("all examples have the same factor value")
    direction = np.sum((w * dx)[:, None] * (centroids - mean_c), axis=0) / var_x
    offset = mean_c - mean_x * direction
    residual = centroids - (offset + centres[:, None] * direction)
    total = float(np.sum(w[:, None] * (centroids - mean_c) ** 2))
    r2 = 1.0 - float(np.sum(w[:, None] * residual**2)) / total if total > 0 else 0.0
    return direction, offset, r2


def fit_binned_direction(latents: np.ndarray, values: np.ndarray, bins: int = 12) -> LineFit:
    """Method (a): a line through the centroids of latents binned by ``values``."""
    shape = np.shape(latents)[1:]
    centroids, centres, counts = bin_centroids(latents, values, bins)
    direction, offset, r2 = fit_line(centroids, centres, counts)
    return LineFit(direction.reshape(shape).astype(np.float32), offset.reshape(shape).astype(np.float32), r2, centres, counts)


def fit_split_directions(latents: np.ndarray, values: np.ndarray, split: float = 0.0, bins: int = 12) -> tuple[LineFit, LineFit]:
    """Separate lines below and above ``split`` (left and right turns); examples at ``split`` count in both."""
    values = np.asarray(values)
    below, above = values <= split, values >= split
    return fit_binned_direction(np.asarray(latents)[below], values[below], bins // 2), fit_binned_direction(np.asarray(latents)[above], values[above], bins // 2)


def mean_difference_direction(latents: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Method (b): mean(positives) - mean(negatives)."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        raise ValueError("a mean-difference direction needs examples of both groups")
    latents = np.asarray(latents, np.float64)
    return (latents[positive].mean(axis=0) - latents[~positive].mean(axis=0)).astype(np.float32)


def orthogonalise(direction: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Method (c): remove the span of ``others`` from ``direction`` (Gram-Schmidt on the others first)."""
    shape = np.shape(direction)
    basis: list[np.ndarray] = []
    for other in others:
        v = np.asarray(other, np.float64).ravel().copy()
        for b in basis:
            v -= (v @ b) * b
        norm = np.linalg.norm(v)
        if norm > 1e-12:
            basis.append(v / norm)
    out = np.asarray(direction, np.float64).ravel().copy()
    for b in basis:
        out -= (out @ b) * b
    return out.reshape(shape).astype(np.float32)


# ---------------------------------------------------------------- files


def save_direction(path: Path, direction: Direction) -> None:
    vector = np.ascontiguousarray(direction.vector, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise DirectionFileError(f"Direction '{direction.name}' contains NaN or infinity; it was not saved.")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": direction.name,
        "method": direction.method,
        "strength_min": repr(float(direction.strength_range[0])),
        "strength_max": repr(float(direction.strength_range[1])),
        "unit": direction.unit,
        "model_hash": direction.model_hash,
        "info": json.dumps(direction.info, sort_keys=True),
    }
    if direction.source_attention_from is not None:
        metadata["source_attention_from"] = repr(float(direction.source_attention_from))
    atomic_write_bytes(Path(path), _st_save({"direction": vector}, metadata=metadata))


def load_direction(path: Path, model_hash: str | None = None) -> Direction:
    """Read a direction; with ``model_hash``, refuse one fitted for another model."""
    path = Path(path)
    try:
        data = path.read_bytes()
        vector = _st_load(data)["direction"]
        meta = read_metadata(data)
        direction = Direction(
            name=meta["name"],
            vector=vector.astype(np.float32),
            method=meta["method"],
            strength_range=(float(meta["strength_min"]), float(meta["strength_max"])),
            model_hash=meta["model_hash"],
            unit=meta.get("unit", ""),
            info=json.loads(meta.get("info", "{}")),
            source_attention_from=_fraction(meta.get("source_attention_from")),
        )
    except FileNotFoundError as exc:
        raise DirectionFileError(f"Direction file {path} does not exist.") from exc
    except (OSError, SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise DirectionFileError(f"{path} is not a readable direction file ({exc}).") from exc
    if model_hash is not None and direction.model_hash != model_hash:
        raise DirectionFileError(
            f"Direction '{direction.name}' in {path.name} was fitted for model {direction.model_hash[:12]}, "
            f"not for the loaded model {model_hash[:12]}; fit it again for this model."
        )
    return direction


def _fraction(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"source_attention_from {value} is not a fraction between 0 and 1")
    return value
