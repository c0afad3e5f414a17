"""Reading a family's files so that every failure is one sentence a user can act on.

Shared by the family modules: JSON configs, the scheduler config in either
layout and whether DDIM can run it, weights (safetensors; pickled ``.bin``
only when allowed, and then with ``weights_only=True``), building a diffusers
module from its config and checking the weights fit it, the content hash,
and placing a module on its device.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement

WEIGHTS_SAFETENSORS = "diffusion_pytorch_model.safetensors"
WEIGHTS_PICKLE = "diffusion_pytorch_model.bin"


def read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} in model {folder} is damaged ({exc}); copy or download the model again.") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} in model {folder} is not a JSON object; copy or download the model again.")
    return data


def read_scheduler_config(folder: Path) -> dict[str, Any]:
    for candidate in (folder / "scheduler" / "scheduler_config.json", folder / "scheduler_config.json"):
        if candidate.is_file():
            return read_json(candidate, folder)
    raise ModelError(
        f"{folder} has no scheduler_config.json (neither in scheduler/ nor beside the weights); "
        "the model's noise schedule is needed to sample it. Copy the complete model folder."
    )


def check_scheduler(scheduler_config: dict[str, Any], folder: Path) -> None:
    """Schedules deterministic DDIM can decode and invert."""
    if scheduler_config.get("thresholding"):
        raise ModelError(f"{folder}'s scheduler uses dynamic thresholding, which deterministic DDIM inversion cannot undo.")
    if scheduler_config.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction", "sample"):
        raise ModelError(f"{folder}'s scheduler has unknown prediction_type {scheduler_config.get('prediction_type')!r}.")


def read_weights(component_dir: Path, folder: Path, allow_pickle: bool) -> tuple[Path, dict[str, torch.Tensor]]:
    safe = component_dir / WEIGHTS_SAFETENSORS
    pickled = component_dir / WEIGHTS_PICKLE
    if safe.is_file():
        return safe, read_safetensors(safe, folder)
    if pickled.is_file():
        if not allow_pickle:
            raise ModelError(
                f"{folder} has only pickled weights ({WEIGHTS_PICKLE}), which can run code when loaded; "
                "if you trust its source, pass --allow-pickle (it is read with weights_only=True), "
                "or convert it to safetensors."
            )
        try:
            return pickled, torch.load(pickled, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad pickle
            raise ModelError(f"The weights file {pickled} cannot be read safely ({exc}).") from exc
    raise ModelError(
        f"{folder} has no weights file ({WEIGHTS_SAFETENSORS} in {component_dir}); the copy is incomplete. "
        "Copy or download the model again."
    )


def read_safetensors(path: Path, folder: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"{folder} has no weights file {path.name} in {path.parent}; the copy is incomplete. Copy or download the model again.")
    try:
        return load_safetensors(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"The weights file {path} is damaged or incompletely copied ({exc}); copy or download the model again."
        ) from exc


MIXED_FOLDER = "the folder mixes files from different models. Copy the complete model again."


def build_checked(module_class, config: dict[str, Any], state_dict: dict[str, torch.Tensor], folder: Path,
                  weights: Path, *, mismatch: str = MIXED_FOLDER) -> torch.nn.Module:
    """``module_class.from_config(config)`` with the weights loaded strictly; a mismatch is one sentence
    ending in ``mismatch`` (what is wrong and what to do)."""
    try:
        module = module_class.from_config(config)
    except Exception as exc:  # diffusers raises ValueError/TypeError/AssertionError for bad configs
        raise ModelError(f"The config.json of {folder} does not describe a valid {module_class.__name__} ({exc}).") from exc
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        detail = _mismatch_detail(missing, unexpected, wrong_shape, expected, state_dict)
        raise ModelError(f"The weights in {weights.name} do not match {folder}'s config.json ({detail}); {mismatch}")
    module.load_state_dict(state_dict, strict=True)
    return module


def _mismatch_detail(missing, unexpected, wrong_shape, expected, state_dict) -> str:
    if wrong_shape:
        key = wrong_shape[0]
        return (
            f"{len(wrong_shape)} tensors differ in shape, e.g. {key} is {tuple(state_dict[key].shape)} in the file "
            f"but {tuple(expected[key].shape)} in the config"
        )
    if missing:
        return f"{len(missing)} tensors are missing, e.g. {missing[0]}"
    return f"{len(unexpected)} tensors are unexpected, e.g. {unexpected[0]}"


def content_hash(weights_files: Iterable[Path], configs: Iterable[dict[str, Any]]) -> str:
    """SHA-256 of the weights plus the configs that change what a latent means."""
    digest = hashlib.sha256()
    for weights_file in weights_files:
        with open(weights_file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    for config in configs:
        semantic = {k: v for k, v in config.items() if not k.startswith("_")}
        digest.update(json.dumps(semantic, sort_keys=True).encode())
    return digest.hexdigest()


def place(module: torch.nn.Module, placement: Placement) -> None:
    """On the device, in inference mode, in the placement's dtype, channels-last where that is faster."""
    module.to(device=placement.device).eval().requires_grad_(False)
    use_fast_layout(module, placement)
    if placement.dtype != torch.float32:
        # diffusers logs a warning on every dtype cast; torch's own cast says nothing.
        torch.nn.Module.to(module, dtype=placement.dtype)


def use_fast_layout(module: torch.nn.Module, placement: Placement) -> None:
    """Channels-last convolutions on CPU, where they are about 20% faster (benchmarks/bench_decode.py).

    Not on CUDA: there PyTorch's group norm turns a channels-last activation back to the default layout and the
    next convolution turns it round again. On one H200 in bfloat16 the 256x256 celebahq-shaped UNet spent 613 ms
    of kernels on one eager decode in channels-last, 48% of it in layout copies, against 421 ms in the default
    layout; compiled, the two are equal (225 and 227 ms): benchmarks/experiments/speed/kernel_share.py."""
    if placement.device.type == "cpu":
        module.to(memory_format=torch.channels_last)
