"""Finding diffusion models (a folder, a bundled name or a Hugging Face id) and loading them.

What a model is and how its files are read belongs to its family
(``engine.families``); this module resolves what the user typed to a local
folder, asks the families to load it, and adds the embedding network saved
beside it. Weights are read by the families, not by ``from_pretrained``, so
that every failure becomes one sentence a user can act on, pickled weights
are refused unless explicitly allowed, and no remote code ever runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from diffusers import DDIMScheduler

from latent_studio.core.errors import ModelError
from latent_studio.core.resources import bundled_models
from latent_studio.engine.cpu_malloc import tune_malloc
from latent_studio.engine.devices import Placement, choose_placement
from latent_studio.engine.draft_decoder import load_draft_decoder
from latent_studio.engine.embedder import load_embedder
from latent_studio.engine.families import load_family
from latent_studio.engine.families.base import ModelFamily
from latent_studio.engine.families.files import WEIGHTS_PICKLE, WEIGHTS_SAFETENSORS

DEFAULT_MODEL = "toy-heads"
MODEL_ENV_VAR = "LATENT_STUDIO_MODEL"
_HUB_FILES = [
    "model_index.json",
    "config.json",
    "scheduler_config.json",
    "unet/config.json",
    "scheduler/scheduler_config.json",
    f"{WEIGHTS_SAFETENSORS}*",
    f"unet/{WEIGHTS_SAFETENSORS}*",
    *(f"{autoencoder}/{name}" for autoencoder in ("vae", "vqvae") for name in ("config.json", f"{WEIGHTS_SAFETENSORS}*")),
    *(f"{encoder}/{name}" for encoder in ("text_encoder", "text_encoder_2") for name in ("config.json", "model.safetensors")),
    "tokenizer/*",
    "tokenizer_2/*",  # SDXL's second
]
_HUB_PICKLE_FILES = [WEIGHTS_PICKLE, f"unet/{WEIGHTS_PICKLE}", f"vae/{WEIGHTS_PICKLE}", f"vqvae/{WEIGHTS_PICKLE}"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are, and how the user named it."""

    spec: str
    folder: Path  # the model's folder, or its single checkpoint file
    kind: str  # "folder", "file", "bundled" or "hub" (a hub repo's folder, or one checkpoint file of it)

    @property
    def home(self) -> Path:
        """Where files made for this model live (directions, embedding network, draft decoder): its folder, or
        ``FILE.latent-studio/`` beside a single-file checkpoint FILE."""
        if self.folder.suffix.lower() == ".safetensors" and self.kind in ("file", "hub"):
            return self.folder.with_name(self.folder.name + ".latent-studio")
        return self.folder


@dataclass
class LoadedModel:
    """A model of some family on its device, where it came from, and its embedding network if it has one."""

    family: ModelFamily
    source: ModelSource
    embedder: Any = None  # the one-pass embedding network (engine.embedder.EmbedderNetwork) when one is saved beside it
    draft: Any = None  # the one-pass draft decoder (engine.draft_decoder.DraftDecoder) when one is saved beside it

    @property
    def scheduler_config(self) -> dict[str, Any]:
        return self.family.scheduler_config

    @property
    def placement(self) -> Placement:
        return self.family.placement

    @property
    def content_hash(self) -> str:
        return self.family.content_hash

    @property
    def weights_file(self) -> Path:
        return self.family.weights_file

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return self.family.latent_shape

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the pictures; equal to the latent's for a pixel model only."""
        return self.family.image_size

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for module in self.family.modules() for p in module.parameters())

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
    if path.is_file():
        return ModelSource(spec, path.resolve(), "file")
    bundled = bundled_models()
    if spec in bundled:
        return ModelSource(spec, bundled[spec], "bundled")
    hub_file = _hub_file_parts(spec)
    if hub_file is not None:
        return ModelSource(spec, _hub_file(*hub_file, cache_dir), "hub")
    if path.suffix.lower() in (".safetensors", ".ckpt"):
        raise ModelError(f"Checkpoint file {path} does not exist; check the path.")
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


def _hub_file_parts(spec: str) -> tuple[str, str] | None:
    """(repo id, file in it) for ``owner/name/FILE.safetensors`` (a single-file checkpoint on the hub), else None."""
    parts = spec.split("/")
    if len(parts) < 3 or spec.startswith((".", "~", "/")) or Path(spec).suffix.lower() not in (".safetensors", ".ckpt"):
        return None
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    if Path(parts[0]).expanduser().exists():  # a relative path here whose file is missing, not a hub id
        return None
    if not _looks_like_hub_id(repo_id) or any(p in ("", ".", "..") for p in parts[2:]):
        return None
    return repo_id, filename


def _hub_file(repo_id: str, filename: str, cache_dir: Path | None) -> Path:
    """One checkpoint file of a hub repo, from the cache first; pickled ones are refused before anything downloads."""
    from huggingface_hub import hf_hub_download

    from latent_studio.engine.families.single_file import refuse_unreadable

    if Path(filename).suffix.lower() != ".safetensors":
        refuse_unreadable(Path(filename))
    return _from_hub(f"{repo_id}/{filename}", lambda local_only: hf_hub_download(
        repo_id, filename, cache_dir=str(cache_dir) if cache_dir else None, local_files_only=local_only))


def _hub_snapshot(repo_id: str, allow_pickle: bool, cache_dir: Path | None) -> Path:
    from huggingface_hub import snapshot_download

    patterns = _HUB_FILES + (_HUB_PICKLE_FILES if allow_pickle else [])
    kwargs = dict(allow_patterns=patterns, cache_dir=str(cache_dir) if cache_dir else None)
    folder = _from_hub(repo_id, lambda local_only: snapshot_download(repo_id, local_files_only=local_only, **kwargs))
    if not any((folder / name).is_file() for name in ("model_index.json", "config.json", "unet/config.json")):
        _refuse_checkpoint_repo(repo_id, folder)
    return folder


def _refuse_checkpoint_repo(repo_id: str, folder: Path) -> None:
    """A hub repo without a diffusers model: one sentence naming its single-file checkpoints, if it has any."""
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.safetensors"))
    if not names and not hub_offline():
        try:
            from huggingface_hub import HfApi

            names = sorted(n for n in HfApi().list_repo_files(repo_id) if n.lower().endswith(".safetensors"))
        except Exception:  # noqa: BLE001 - only a better sentence is lost
            names = []
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise ModelError(f"'{repo_id}' holds single-file checkpoints, not a diffusers model folder ({shown}); load one "
                         f"with --model {repo_id}/{names[0]}.")
    raise ModelError(f"'{repo_id}' holds no model Latent Studio can load (no model_index.json, config.json or "
                     "single-file .safetensors checkpoint).")


def _from_hub(name: str, fetch: Callable[[bool], str]) -> Path:
    """``fetch(local_only)`` from the Hugging Face cache, then (unless offline) the hub; every failure one sentence."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo_id, filename = "/".join(name.split("/")[:2]), "/".join(name.split("/")[2:])
    download = f"hf download {repo_id}" + (f" {filename}" if filename else "")
    try:
        return Path(fetch(True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if hub_offline():
        raise ModelError(
            f"Model '{name}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set; run once online "
            f"(or `{download}`) to cache it, or give a local model folder instead (Model ▸ Choose model in the app, --model on the command line)."
        )
    try:
        return Path(fetch(False))
    except GatedRepoError as exc:
        raise ModelError(f"Model '{repo_id}' is gated: accept its licence on huggingface.co and log in with `hf auth login`.") from exc
    except RepositoryNotFoundError as exc:
        raise ModelError(f"Model '{repo_id}' does not exist on the Hugging Face hub (or is private); check the id.") from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
            raise ModelError(f"'{repo_id}' on the Hugging Face hub has no file '{filename}'; check the file name.") from exc
        raise ModelError(
            f"Model '{name}' is not in the Hugging Face cache and the hub cannot be reached; connect to the "
            f"internet once (or run `{download}` on a connected machine and copy the cache), "
            "or give a local model folder instead (Model ▸ Choose model in the app, --model on the command line)."
        ) from exc


# ---------------------------------------------------------------- loading


def load_model(
    spec: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    allow_pickle: bool = False,
    cache_dir: Path | None = None,
    decode_dtype: str | None = None,
) -> LoadedModel:
    source = resolve_model(spec, allow_pickle=allow_pickle, cache_dir=cache_dir)
    placement = choose_placement(device, dtype, decode_dtype)
    return load_from_folder(source, placement, allow_pickle=allow_pickle)


def load_from_folder(source: ModelSource, placement: Placement, *, allow_pickle: bool = False) -> LoadedModel:
    if placement.device.type == "cpu":
        tune_malloc()  # 15% faster decoding on a CPU (engine/cpu_malloc.py)
    family = load_family(source.folder, placement, allow_pickle=allow_pickle)
    embedder = load_embedder(source.home, family.content_hash, placement.device, placement.dtype)
    draft = load_draft_decoder(source.home, family.content_hash, placement.device, placement.dtype)
    return LoadedModel(family, source, embedder, draft)


def describe_scheduler(config: dict[str, Any]) -> str:
    trained_with = config.get("_class_name", "unknown scheduler")
    return (
        f"trained with {trained_with}, {config.get('num_train_timesteps', 1000)} steps, "
        f"{config.get('beta_schedule', 'linear')} betas, predicts {config.get('prediction_type', 'epsilon')}"
    )


def make_ddim_scheduler(config: dict[str, Any]) -> DDIMScheduler:
    """A fresh DDIM scheduler on the model's trained schedule (whatever scheduler it was trained with)."""
    return DDIMScheduler.from_config(config)
