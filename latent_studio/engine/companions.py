"""Small networks trained for one model and stored beside it: the embedding network and the draft decoder.

Each lives in a subfolder of the model (``embedder/``, ``draft/``): a diffusers
``UNet2DModel`` config, float16 safetensors weights, and an info file naming
the content hash of the model weights it was trained for. The info file is
written last, so a folder without it is an interrupted save and is ignored.
A companion trained for other weights is not loaded: it would be confidently
wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from safetensors.torch import save as st_save

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import ModelError

WEIGHTS = "diffusion_pytorch_model.safetensors"


def load_companion(folder: Path, info_name: str, model_hash: str, device: torch.device, dtype: torch.dtype, *,
                   name: str, retrain: str) -> tuple[UNet2DModel, dict] | None:
    """The network in ``folder`` and its info, or None when there is none or it was trained for other weights.

    ``name`` ("embedding network") and ``retrain`` (the command that makes a new one) word the sentence about a
    damaged folder.
    """
    folder = Path(folder)
    if not (folder / info_name).is_file():
        return None
    try:
        info = json.loads((folder / info_name).read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        state = load_safetensors(str(folder / WEIGHTS), device="cpu")
        unet = UNet2DModel.from_config(config)
        unet.load_state_dict(state, strict=True)
        trained_for = str(info["model_hash"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise ModelError(f"The {name} in {folder} is damaged ({exc}); delete the folder or train it again "
                         f"with `{retrain}`.") from exc
    if trained_for != model_hash:
        return None
    # torch's own cast: diffusers' ModelMixin.to logs a warning on every dtype cast (even with nothing to keep in fp32).
    torch.nn.Module.to(unet, device=device, dtype=dtype).eval().requires_grad_(False)
    return unet, info


def start_from_weights(folder: Path, unet: UNet2DModel, *, name: str) -> None:
    """Copy the weights saved in ``folder`` (a companion's, or a model's ``unet/``) into ``unet``, whatever model
    they were trained for: the start of a fine-tune (``train-demo``, ``train-embedder``, ``train-draft
    --init-from``). They must fit ``unet``'s architecture."""
    folder = Path(folder)
    if not (folder / WEIGHTS).is_file():
        raise ModelError(f"There is no {name} in {folder} to start from (no {WEIGHTS}).")
    try:
        unet.load_state_dict(load_safetensors(str(folder / WEIGHTS), device="cpu"), strict=True)  # fp16 cast up
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"The {name} in {folder} cannot be read ({exc}).") from exc
    except RuntimeError as exc:
        raise ModelError(f"The {name} in {folder} has another architecture: its weights do not fit the one being "
                         f"trained ({str(exc).splitlines()[0]}).") from exc


def save_companion(folder: Path, unet: UNet2DModel, info: dict, info_name: str) -> Path:
    """Write config, float16 weights, then the info file last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in unet.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, st_save(weights))
    atomic_write_bytes(folder / "config.json", unet.to_json_string().encode())
    atomic_write_bytes(folder / info_name, json.dumps(info, indent=2, sort_keys=True).encode())
    return folder
