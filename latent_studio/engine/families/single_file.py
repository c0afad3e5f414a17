"""Stable Diffusion 1.x / 2.x / XL from one ``.safetensors`` checkpoint, the form model sites share.

A single file keeps the original (CompVis / Stability) names:
``model.diffusion_model.`` (the UNet), ``first_stage_model.`` (the KL
autoencoder) and ``cond_stage_model.`` (CLIP ViT-L for 1.x, OpenCLIP ViT-H
for 2.x) or ``conditioner.embedders.0/1.`` (SDXL's two), and carries no
configs and no tokenizer. The version is read from the keys; the
configs and CLIP's tokenizer ship in ``resources/configs`` (nothing is
fetched); diffusers' own converters rename the weights, and every module is
then built and checked strictly, like a folder's. A 2.x file is taken as
v-prediction at 768 pixels (2.0-v, 2.1, most fine-tunes) unless a ``.yaml``
beside it (the convention of other tools) says otherwise. Pickled
checkpoints (``.ckpt``) are refused: loading them can run code.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace  # what diffusers' OpenCLIP converter reads of a text model: .config
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from latent_studio.core.errors import ModelError
from latent_studio.core.resources import resources_dir
from latent_studio.engine.devices import Placement
from latent_studio.engine.families.autoencoder import Autoencoder, upcast_placement
from latent_studio.engine.families.files import build_checked, content_hash, place, read_json, read_safetensors
from latent_studio.engine.families.stable_diffusion import (
    StableDiffusion,
    build_text_encoder,
    check_text_width,
    require_transformers,
)
from latent_studio.engine.families.stable_diffusion_xl import StableDiffusionXL

SUFFIX = ".safetensors"
PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
UNET, VAE = "model.diffusion_model.", "first_stage_model."
CLIP_TEXT, OPEN_CLIP_TEXT = "cond_stage_model.transformer.", "cond_stage_model.model."
XL_CLIP_TEXT, XL_OPEN_CLIP_TEXT = "conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."
VERSIONS = {"1": "stable-diffusion-1", "2": "stable-diffusion-2", "xl": "stable-diffusion-xl"}  # -> resources/configs
NOT_STANDARD = "it is not a standard Stable Diffusion checkpoint, or it is damaged. Use the model's diffusers folder instead."


def claims(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == SUFFIX


def refuse_unreadable(path: Path) -> None:
    """A file given as a model that is not a ``.safetensors`` checkpoint: one sentence saying why."""
    if path.suffix.lower() in PICKLED_SUFFIXES:
        raise ModelError(f"{path.name} is a pickled checkpoint, which can run code when loaded; Latent Studio reads "
                         "single-file checkpoints only as .safetensors. Download the .safetensors version, or convert "
                         "it on a machine you trust.")
    raise ModelError(f"{path} is a file but not a .safetensors checkpoint; pass a model folder or a Stable Diffusion "
                     ".safetensors file.")


def detect_version(state: dict[str, torch.Tensor], path: Path) -> str:
    """"1", "2" or "xl" from the checkpoint's keys, or one sentence naming what the file is instead."""
    keys = list(state)
    if any(k.startswith("conditioner.embedders.") for k in keys) and not any(k.startswith(XL_CLIP_TEXT) for k in keys):
        raise ModelError(f"{path.name} is an SDXL refiner checkpoint; Latent Studio loads SDXL base models.")
    if not any(k.startswith(UNET) for k in keys):
        kind = ("a UNet alone in diffusers' naming" if any(k.startswith("down_blocks.") for k in keys)
                else "an autoencoder alone" if any(k.startswith(("encoder.", "decoder.")) for k in keys)
                else "no diffusion model Latent Studio knows")
        raise ModelError(f"{path.name} holds {kind}, not a complete Stable Diffusion checkpoint (UNet, autoencoder and "
                         "text encoder in one file); use the complete checkpoint or the model's diffusers folder.")
    first_conv = state.get(UNET + "input_blocks.0.0.weight")
    if first_conv is not None and first_conv.ndim == 4 and first_conv.shape[1] != 4:
        raise ModelError(f"{path.name} is an inpainting or upscaling checkpoint (its UNet reads {first_conv.shape[1]} "
                         "channels); Latent Studio needs a text-to-image Stable Diffusion model.")
    if not any(k.startswith(VAE) for k in keys):
        raise ModelError(f"{path.name} lacks the autoencoder (no first_stage_model weights; some sites ship it as a "
                         "separate file); use a checkpoint that includes it, or the model's diffusers folder.")
    if any(k.startswith(XL_CLIP_TEXT) for k in keys) and any(k.startswith(XL_OPEN_CLIP_TEXT) for k in keys):
        return "xl"
    if any(k.startswith(CLIP_TEXT) for k in keys):
        return "1"
    if any(k.startswith(OPEN_CLIP_TEXT) for k in keys):
        return "2"
    raise ModelError(f"{path.name} lacks the text encoder (no cond_stage_model weights); use a checkpoint that "
                     "includes it, or the model's diffusers folder.")


def config_folder(version: str) -> Path:
    root = resources_dir()
    folder = root / "configs" / VERSIONS[version] if root else None
    if folder is None or not folder.is_dir():
        raise ModelError(f"This installation lacks the Stable Diffusion {version}.x configs (resources/configs); "
                         "reinstall Latent Studio.")
    return folder


def read_configs(version: str, path: Path) -> dict[str, dict[str, Any]]:
    folder = config_folder(version)
    parts = ("unet", "vae", "text_encoder", "text_encoder_2")
    configs = {part: read_json(folder / part / "config.json", folder) for part in parts if (folder / part).is_dir()}
    configs["scheduler"] = read_json(folder / "scheduler" / "scheduler_config.json", folder)
    for part in ("tokenizer", "tokenizer_2"):
        if (folder / part).is_dir():
            configs[part] = read_json(folder / part / "tokenizer_config.json", folder)
    prediction = prediction_beside(path)
    if prediction is not None and prediction != configs["scheduler"]["prediction_type"]:
        configs["scheduler"] = dict(configs["scheduler"], prediction_type=prediction)
        if version == "2":  # 2.x-base is the 512-pixel epsilon model; 2.x-v is 768
            configs["unet"] = dict(configs["unet"], sample_size=96 if prediction == "v_prediction" else 64)
    return configs


def prediction_beside(path: Path) -> str | None:
    """What an original config beside the file (``NAME.yaml``) says the model predicts, if there is one."""
    import yaml

    original = path.with_suffix(".yaml")
    if not original.is_file():
        return None
    try:
        config = yaml.safe_load(original.read_text(encoding="utf-8"))
        parameterization = ((config or {}).get("model") or {}).get("params", {}).get("parameterization", "eps")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError) as exc:
        raise ModelError(f"{original.name} beside the checkpoint cannot be read ({exc}); fix or remove it.") from exc
    return "v_prediction" if parameterization == "v" else "epsilon"


def convert(state: dict[str, torch.Tensor], version: str, configs: dict[str, dict[str, Any]],
            path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The UNet's, autoencoder's and text encoders' weights under diffusers' and transformers' names."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )
    from transformers import CLIPTextConfig

    with_ema = sum(k.startswith("model_ema.") for k in state) > 100  # EMA weights are the ones made for sampling
    try:
        unet = convert_ldm_unet_checkpoint(state, configs["unet"], extract_ema=with_ema)
        vae = convert_ldm_vae_checkpoint(state, configs["vae"])
        # Text encoders' names with or without ``text_model.`` are settled by build_text_encoder (in_model_naming).
        if version in ("1", "xl"):
            text = convert_ldm_clip_checkpoint(state)
        else:  # OpenCLIP; diffusers' converter leaves out 2.x's unused last layer and pooled projection
            text = convert_open_clip_checkpoint(SimpleNamespace(config=CLIPTextConfig.from_dict(configs["text_encoder"])),
                                                state)
        weights = {"unet": unet, "vae": vae, "text_encoder": text}
        if version == "xl":  # the second encoder keeps its projection: SDXL reads the pooled embedding
            shape = SimpleNamespace(config=CLIPTextConfig.from_dict(configs["text_encoder_2"]))
            weights["text_encoder_2"] = convert_open_clip_checkpoint(shape, state, prefix=XL_OPEN_CLIP_TEXT)
    except (KeyError, IndexError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} cannot be read as Stable Diffusion {version}{'.x' * (version != 'xl')} "
                         f"({exc!r}); {NOT_STANDARD}") from exc
    return weights


def load(path: Path, placement: Placement, *, allow_pickle: bool = False) -> StableDiffusion:
    state = read_safetensors(path, path.parent)
    version = detect_version(state, path)
    require_transformers(path)
    configs = read_configs(version, path)
    weights = convert(state, version, configs, path)
    del state
    encoders = ["text_encoder", "text_encoder_2"] if version == "xl" else ["text_encoder"]
    check_text_width(configs["unet"], [configs[e] for e in encoders], path)
    unet = build_checked(UNet2DConditionModel, configs["unet"], weights["unet"], path, path, mismatch=NOT_STANDARD)
    place(unet, placement)
    vae = build_checked(AutoencoderKL, configs["vae"], weights["vae"], path, path, mismatch=NOT_STANDARD)
    vae_placement = upcast_placement(configs["vae"], placement)
    place(vae, vae_placement)
    texts = []
    for encoder, tokenizer in zip(encoders, ("tokenizer", "tokenizer_2")):
        text_encoder = build_text_encoder(configs[encoder], weights[encoder], path, NOT_STANDARD.rstrip("."),
                                          projection=encoder == "text_encoder_2")
        texts += [text_encoder.to(placement.device).eval().requires_grad_(False), _tokenizer(version, configs[tokenizer])]
    digest = content_hash([path], [configs[k] for k in sorted(configs)])
    autoencoder = Autoencoder(vae, configs["vae"], path, vae_placement)
    if version == "xl":
        return StableDiffusionXL(unet, autoencoder, *texts, force_zeros_for_empty_prompt=True,
                                 scheduler_config=configs["scheduler"], placement=placement, content_hash=digest,
                                 weights_file=path)
    return StableDiffusion(unet, autoencoder, *texts, configs["scheduler"], placement, digest, path)


def _tokenizer(version: str, config: dict[str, Any]):
    from transformers import CLIPTokenizer

    tokens = config_folder(version).parent / "clip-tokenizer"
    keep = ("bos_token", "eos_token", "pad_token", "unk_token", "model_max_length", "do_lower_case")
    try:
        return CLIPTokenizer.from_pretrained(str(tokens), local_files_only=True,
                                             **{k: v for k, v in config.items() if k in keep})
    except (OSError, ValueError) as exc:
        raise ModelError(f"CLIP's tokenizer in {tokens} cannot be read ({exc}); reinstall Latent Studio.") from exc
