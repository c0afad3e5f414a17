"""Finding and loading pixel-space diffusion models (diffusers UNet2DModel + a DDPM/DDIM schedule).

A model is named by a local folder, the name of a bundled model, or a Hugging
Face id. Two folder layouts are read: the pipeline layout (model_index.json,
unet/, scheduler/) and the flat layout of google/ddpm-* repositories
(config.json and scheduler_config.json beside the weights).

Weights are read by this module, not by ``from_pretrained``, so that every
failure becomes one sentence a user can act on, pickled weights are refused
unless explicitly allowed (and then read with ``weights_only=True``), and no
remote code ever runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DDIMScheduler, UNet2DModel
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors

from latent_studio.core.errors import ModelError
from latent_studio.core.resources import bundled_models
from latent_studio.engine.devices import Placement, choose_placement
from latent_studio.engine.embedder import load_embedder

DEFAULT_MODEL = "toy-heads"
MODEL_ENV_VAR = "LATENT_STUDIO_MODEL"
WEIGHTS_SAFETENSORS = "diffusion_pytorch_model.safetensors"
WEIGHTS_PICKLE = "diffusion_pytorch_model.bin"
_HUB_FILES = [
    "model_index.json",
    "config.json",
    "scheduler_config.json",
    "unet/config.json",
    "scheduler/scheduler_config.json",
    f"{WEIGHTS_SAFETENSORS}*",
    f"unet/{WEIGHTS_SAFETENSORS}*",
]
_HUB_PICKLE_FILES = [WEIGHTS_PICKLE, f"unet/{WEIGHTS_PICKLE}"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are, and how the user named it."""

    spec: str
    folder: Path
    kind: str  # "folder", "bundled" or "hub"


@dataclass
class LoadedModel:
    """A UNet on its device plus the frozen schedule it was trained with."""

    unet: UNet2DModel
    scheduler_config: dict[str, Any]
    placement: Placement
    source: ModelSource
    content_hash: str
    weights_file: Path
    embedder: Any = None  # the one-pass embedding network (engine.embedder.EmbedderNetwork) when one is saved beside it

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (int(self.unet.config.in_channels), int(height), int(width))

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.unet.parameters())

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


# ---------------------------------------------------------------- resolving


def hub_offline() -> bool:
    """Read at call time, so setting HF_HUB_OFFLINE after import is honoured."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def default_model_spec() -> str:
    return os.environ.get(MODEL_ENV_VAR) or DEFAULT_MODEL


def resolve_model(spec: str | None = None, *, allow_pickle: bool = False, cache_dir: Path | None = None) -> ModelSource:
    """Turn what the user typed into a local folder, downloading from the hub only if needed."""
    spec = spec or default_model_spec()
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelSource(spec, path.resolve(), "folder")
    bundled = bundled_models()
    if spec in bundled:
        return ModelSource(spec, bundled[spec], "bundled")
    if _looks_like_path(spec):
        raise ModelError(f"Model folder {path} does not exist; check the path.")
    if _looks_like_hub_id(spec):
        return ModelSource(spec, _hub_snapshot(spec, allow_pickle, cache_dir), "hub")
    if spec == DEFAULT_MODEL:
        raise ModelError(
            f"The bundled demo model '{DEFAULT_MODEL}' is not installed; pass --model with a model folder "
            "or a Hugging Face id such as google/ddpm-celebahq-256."
        )
    names = ", ".join(bundled) or "none installed"
    raise ModelError(
        f"Unknown model '{spec}': it is not a folder, not a bundled model (bundled: {names}) "
        "and not a Hugging Face id of the form owner/name."
    )


def _looks_like_path(spec: str) -> bool:
    """Absolute, relative-dotted, home-relative, ending in a separator, or with more than one '/'."""
    if spec.startswith((".", "~", "/", os.sep)) or spec.endswith(("/", os.sep)):
        return True
    return spec.count("/") > 1 or (os.sep != "/" and os.sep in spec)


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not any(p in (".", "..") for p in parts)


def _hub_snapshot(repo_id: str, allow_pickle: bool, cache_dir: Path | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    patterns = _HUB_FILES + (_HUB_PICKLE_FILES if allow_pickle else [])
    kwargs = dict(allow_patterns=patterns, cache_dir=str(cache_dir) if cache_dir else None)
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, **kwargs))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if hub_offline():
        raise ModelError(
            f"Model '{repo_id}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set; run once online "
            f"(or `hf download {repo_id}`) to cache it, or pass a local folder with --model."
        )
    try:
        return Path(snapshot_download(repo_id, **kwargs))
    except GatedRepoError as exc:
        raise ModelError(f"Model '{repo_id}' is gated: accept its licence on huggingface.co and log in with `hf auth login`.") from exc
    except RepositoryNotFoundError as exc:
        raise ModelError(f"Model '{repo_id}' does not exist on the Hugging Face hub (or is private); check the id.") from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ModelError(
            f"Model '{repo_id}' is not in the Hugging Face cache and the hub cannot be reached; connect to the "
            f"internet once (or run `hf download {repo_id}` on a connected machine and copy the cache), "
            "or pass a local folder with --model."
        ) from exc


# ---------------------------------------------------------------- loading


def load_model(
    spec: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    allow_pickle: bool = False,
    cache_dir: Path | None = None,
) -> LoadedModel:
    source = resolve_model(spec, allow_pickle=allow_pickle, cache_dir=cache_dir)
    placement = choose_placement(device, dtype)
    return load_from_folder(source, placement, allow_pickle=allow_pickle)


def load_from_folder(source: ModelSource, placement: Placement, *, allow_pickle: bool = False) -> LoadedModel:
    folder = source.folder
    unet_dir = _find_unet_dir(folder)
    unet_config = _read_json(unet_dir / "config.json", folder)
    scheduler_config = _read_scheduler_config(folder)
    _check_supported(unet_config, scheduler_config, folder)
    weights_file, state_dict = _read_weights(unet_dir, folder, allow_pickle)
    unet = _build_unet(unet_config, state_dict, folder, weights_file)
    _place(unet, placement)
    content_hash = _content_hash(weights_file, unet_config, scheduler_config)
    embedder = load_embedder(folder, content_hash, placement.device, placement.dtype)
    return LoadedModel(unet, scheduler_config, placement, source, content_hash, weights_file, embedder)


def _place(unet: UNet2DModel, placement: Placement) -> None:
    unet.to(device=placement.device).eval().requires_grad_(False)
    use_fast_layout(unet, placement)
    if placement.dtype != torch.float32:
        # diffusers logs a warning on every dtype cast; UNet2DModel keeps no module in float32.
        from diffusers.utils import logging as diffusers_logging

        previous = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
        try:
            unet.to(dtype=placement.dtype)
        finally:
            diffusers_logging.set_verbosity(previous)


def use_fast_layout(unet: UNet2DModel, placement: Placement) -> None:
    """Channels-last convolutions: about 20% faster on CPU (benchmarks/bench_decode.py) and on CUDA."""
    if placement.device.type in ("cpu", "cuda"):
        unet.to(memory_format=torch.channels_last)


def _find_unet_dir(folder: Path) -> Path:
    for candidate in (folder / "unet", folder):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelError(
        f"{folder} is not a diffusers model folder: it has neither unet/config.json nor config.json "
        "(an incomplete copy? copy or download it again)."
    )


def _read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} in model {folder} is damaged ({exc}); copy or download the model again.") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} in model {folder} is not a JSON object; copy or download the model again.")
    return data


def _read_scheduler_config(folder: Path) -> dict[str, Any]:
    for candidate in (folder / "scheduler" / "scheduler_config.json", folder / "scheduler_config.json"):
        if candidate.is_file():
            return _read_json(candidate, folder)
    raise ModelError(
        f"{folder} has no scheduler_config.json (neither in scheduler/ nor beside the weights); "
        "the model's noise schedule is needed to sample it. Copy the complete model folder."
    )


def _check_supported(unet_config: dict[str, Any], scheduler_config: dict[str, Any], folder: Path) -> None:
    class_name = unet_config.get("_class_name", "UNet2DModel")
    if class_name != "UNet2DModel":
        raise ModelError(
            f"{folder} holds a {class_name}; Latent Studio works with pixel-space UNet2DModel diffusion models."
        )
    if unet_config.get("in_channels", 3) != 3 or unet_config.get("out_channels", 3) != 3:
        raise ModelError(
            f"{folder} has {unet_config.get('in_channels')} input and {unet_config.get('out_channels')} output "
            "channels; Latent Studio needs an RGB pixel-space model (3 and 3)."
        )
    if unet_config.get("num_class_embeds") or unet_config.get("class_embed_type"):
        raise ModelError(f"{folder} is class-conditional; Latent Studio needs an unconditional model.")
    if scheduler_config.get("thresholding"):
        raise ModelError(f"{folder}'s scheduler uses dynamic thresholding, which deterministic DDIM inversion cannot undo.")
    if scheduler_config.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction", "sample"):
        raise ModelError(f"{folder}'s scheduler has unknown prediction_type {scheduler_config.get('prediction_type')!r}.")


def _read_weights(unet_dir: Path, folder: Path, allow_pickle: bool) -> tuple[Path, dict[str, torch.Tensor]]:
    safe = unet_dir / WEIGHTS_SAFETENSORS
    pickled = unet_dir / WEIGHTS_PICKLE
    if safe.is_file():
        try:
            return safe, load_safetensors(str(safe), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(
                f"The weights file {safe} is damaged or incompletely copied ({exc}); copy or download the model again."
            ) from exc
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
        f"{folder} has no weights file ({WEIGHTS_SAFETENSORS} in {unet_dir}); the copy is incomplete. "
        "Copy or download the model again."
    )


def _build_unet(config: dict[str, Any], state_dict: dict[str, torch.Tensor], folder: Path, weights: Path) -> UNet2DModel:
    try:
        unet = UNet2DModel.from_config(config)
    except Exception as exc:  # diffusers raises ValueError/TypeError/AssertionError for bad configs
        raise ModelError(f"The config.json of {folder} does not describe a valid UNet2DModel ({exc}).") from exc
    expected = unet.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        detail = _mismatch_detail(missing, unexpected, wrong_shape, expected, state_dict)
        raise ModelError(
            f"The weights in {weights.name} do not match {folder}'s config.json ({detail}); "
            "the folder mixes files from different models. Copy the complete model again."
        )
    unet.load_state_dict(state_dict, strict=True)
    return unet


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


def _content_hash(weights_file: Path, unet_config: dict[str, Any], scheduler_config: dict[str, Any]) -> str:
    """SHA-256 of the weights plus the configs that change what a latent means."""
    digest = hashlib.sha256()
    with open(weights_file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    for config in (unet_config, scheduler_config):
        semantic = {k: v for k, v in config.items() if not k.startswith("_")}
        digest.update(json.dumps(semantic, sort_keys=True).encode())
    return digest.hexdigest()


def describe_scheduler(config: dict[str, Any]) -> str:
    trained_with = config.get("_class_name", "unknown scheduler")
    return (
        f"trained with {trained_with}, {config.get('num_train_timesteps', 1000)} steps, "
        f"{config.get('beta_schedule', 'linear')} betas, predicts {config.get('prediction_type', 'epsilon')}"
    )


def make_ddim_scheduler(config: dict[str, Any]) -> DDIMScheduler:
    """A fresh DDIM scheduler on the model's trained schedule (whatever scheduler it was trained with)."""
    return DDIMScheduler.from_config(config)
