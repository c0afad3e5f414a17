"""The Stable-Diffusion family: a KL autoencoder, a text-conditioned ``UNet2DConditionModel`` and a CLIP text encoder.

The diffusers layout of Stable Diffusion 1.x / 2.x (``vae/``, ``unet/``,
``text_encoder/``, ``tokenizer/``, ``scheduler/``). The UNet reads a prompt's
CLIP embedding through cross-attention; with guidance above 1 it also reads a
negative prompt's and moves away from it (classifier-free guidance).

Deterministic DDIM inversion is exact only for the conditioning it is run
with, and only without guidance, so the family's default conditioning is the
empty prompt at guidance 1, and decoding and embedding use it (``denoise``
takes another ``Conditioning``; carrying a project's prompt to it is the next
step). The text encoder and tokenizer are
built from their files with explicit classes (transformers' ``CLIPTextModel``
and ``CLIPTokenizer``), never from remote code. SDXL (two text encoders, a
pooled embedding and size conditions) is ``stable_diffusion_xl.py``, built on
this one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DConditionModel

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families.autoencoder import AutoencodedSpace, Autoencoder, load_autoencoder
from latent_studio.engine.families.files import (
    build_checked,
    check_scheduler,
    content_hash,
    place,
    read_json,
    read_safetensors,
    read_scheduler_config,
    read_weights,
)
from latent_studio.engine.families.latent_unet import check_channels
from latent_studio.engine.families.pixel_unet import unet_latent_shape

NAME = "Stable Diffusion"
TEXT_ENCODER_WEIGHTS = "model.safetensors"  # transformers' file name, not diffusers'


@dataclass(frozen=True)
class Conditioning:
    """What the UNet reads besides the latent: a prompt's embedding, and a negative one for guidance above 1."""

    prompt: str
    negative_prompt: str
    guidance: float
    embedding: torch.Tensor  # (1, tokens, width)
    negative_embedding: torch.Tensor
    pooled: torch.Tensor | None = None  # (1, width): SDXL's pooled text embedding, read beside the tokens'
    negative_pooled: torch.Tensor | None = None


def claims(folder: Path) -> bool:
    """A diffusers Stable Diffusion folder (SDXL's, with a second text encoder, too: its family is asked first)."""
    unet_config = folder / "unet" / "config.json"
    if not (folder / "vae" / "config.json").is_file() or not unet_config.is_file():
        return False
    return read_json(unet_config, folder).get("_class_name") == "UNet2DConditionModel"


class StableDiffusion(AutoencodedSpace):
    name = NAME

    def __init__(self, unet: UNet2DConditionModel, autoencoder: Autoencoder, text_encoder, tokenizer,
                 scheduler_config: dict[str, Any], placement: Placement, content_hash: str, weights_file: Path) -> None:
        self.unet = unet
        self.autoencoder = autoencoder
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.scheduler_config = scheduler_config
        self.placement = placement
        self.content_hash = content_hash
        self.weights_file = weights_file
        self._conditionings: dict[tuple[str, str, float], Conditioning] = {}  # every preview asks again: encode once
        self.default_conditioning = self.conditioning("")

    @property
    def denoiser(self) -> torch.nn.Module:
        return self.unet

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return unet_latent_shape(self.unet)

    def modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.autoencoder.module, self.text_encoder]

    def tokens(self, tokenizer, prompt: str) -> torch.Tensor:
        return tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                         return_tensors="pt").input_ids.to(self.placement.device)

    @torch.no_grad()
    def embed_prompt(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The prompt's token embeddings the UNet's cross-attention reads, and a pooled one (None: not read)."""
        return self.text_encoder(self.tokens(self.tokenizer, prompt))[0], None

    def embed_negative(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.embed_prompt(prompt)

    def conditioning(self, prompt: str, negative_prompt: str = "", guidance: float = 1.0) -> Conditioning:
        key = (prompt, negative_prompt, float(guidance))
        if key not in self._conditionings:
            if len(self._conditionings) >= 16:
                self._conditionings.pop(next(iter(self._conditionings)))
            embedding, pooled = self.embed_prompt(prompt)
            negative, negative_pooled = self.embed_negative(negative_prompt)
            self._conditionings[key] = Conditioning(prompt, negative_prompt, float(guidance), embedding, negative,
                                                    pooled, negative_pooled)
        return self._conditionings[key]

    def denoise(self, x: torch.Tensor, timestep: int, conditioning: Conditioning | None = None) -> torch.Tensor:
        condition = conditioning or self.default_conditioning
        model_dtype = next(self.unet.parameters()).dtype
        if condition.guidance == 1.0:
            return self._unet(x.to(model_dtype), timestep, condition.embedding, condition.pooled).float()
        pooled = None if condition.pooled is None else torch.cat([condition.negative_pooled, condition.pooled])
        both = self._unet(torch.cat([x, x]).to(model_dtype), timestep,
                          torch.cat([condition.negative_embedding, condition.embedding]), pooled)
        negative, positive = both.float().chunk(2)
        return negative + condition.guidance * (positive - negative)

    def _unet(self, x: torch.Tensor, timestep: int, embedding: torch.Tensor, pooled: torch.Tensor | None) -> torch.Tensor:
        t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        rows = embedding.repeat_interleave(x.shape[0] // embedding.shape[0], dim=0)
        extra = self.added_conditions(pooled, x.shape[0], x.dtype)
        return self.unet(x, t, encoder_hidden_states=rows.to(x.dtype), **extra).sample

    def added_conditions(self, pooled: torch.Tensor | None, rows: int, dtype: torch.dtype) -> dict[str, Any]:
        """What the UNet reads besides the token embeddings (nothing here; SDXL adds the pooled text and sizes)."""
        return {}


def build_text_encoder(config: dict[str, Any], state: dict[str, torch.Tensor], where: Path, remedy: str, *,
                       projection: bool = False):
    """transformers' ``CLIPTextModel`` (``CLIPTextModelWithProjection`` with ``projection``) from its config, with
    every weight present (``remedy`` says what to do if not)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}  # a buffer older files saved, rebuilt
    try:
        text_encoder = (CLIPTextModelWithProjection if projection else CLIPTextModel)(CLIPTextConfig.from_dict(config))
        state = in_model_naming(state, text_encoder)
        text_encoder.load_state_dict(state, strict=False)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelError(f"The text encoder in {where} does not match its config ({exc}); {remedy}.") from exc
    missing = [k for k in text_encoder.state_dict() if k not in state and not k.endswith("position_ids")]
    if missing:
        raise ModelError(f"The text encoder weights in {where} lack {len(missing)} tensors (e.g. {missing[0]}); {remedy}.")
    return text_encoder


def in_model_naming(state: dict[str, torch.Tensor], text_encoder) -> dict[str, torch.Tensor]:
    """Files name CLIP's tensors ``text_model.*`` (transformers 4); transformers 5's model drops the prefix.
    Each tensor takes the name the model knows it by; one it knows by neither keeps its own (and is reported)."""
    known = set(text_encoder.state_dict())
    renamed = {}
    for key, value in state.items():
        plain = key.removeprefix("text_model.")
        renamed[next((k for k in (key, plain, f"text_model.{plain}") if k in known), key)] = value
    return renamed


def check_text_width(unet_config: dict[str, Any], text_configs: list[dict[str, Any]], where: Path) -> None:
    """The UNet reads the text encoders' hidden states side by side: their widths must add up to its own."""
    widths = [c.get("hidden_size") for c in text_configs]
    if unet_config.get("cross_attention_dim") != sum(w or 0 for w in widths):
        made = " + ".join(str(w) for w in widths)
        raise ModelError(f"{where}'s UNet reads {unet_config.get('cross_attention_dim')}-wide text embeddings but its text "
                         f"encoders make {made}-wide ones; it mixes parts of different models.")


@dataclass
class TextPart:
    """One text encoder and its tokenizer, as read from a folder, with the files that make its content hash."""

    encoder: Any
    tokenizer: Any
    config: dict[str, Any]
    files: list[Path]


def require_transformers(model: Path) -> None:
    """The text encoders come from transformers, an optional extra: one sentence when it is not installed."""
    try:
        importlib.import_module("transformers")
    except ImportError:
        raise ModelError(f"{model.name} is a Stable Diffusion model, and its text encoder needs transformers, which is "
                         "not installed: pip install \"latent-studio[text]\" (a desktop bundle built with "
                         "LATENT_STUDIO_BUNDLE_TEXT=0 leaves it out).") from None


def require_text_parts(folder: Path, parts: list[tuple[str, str]]) -> None:
    """Every text encoder's config and tokenizer is there, and transformers to read them: checked before the heavy
    parts load."""
    require_transformers(folder)
    for encoder_dir, tokenizer_dir in parts:
        for part in (f"{encoder_dir}/config.json", tokenizer_dir):
            if not (folder / part).exists():
                raise ModelError(f"{folder} is an incomplete Stable Diffusion model: {part} is missing. "
                                 "Copy the complete model folder.")


def load_text_part(folder: Path, encoder_dir: str, tokenizer_dir: str, placement: Placement, *,
                   projection: bool = False) -> TextPart:
    from transformers import CLIPTokenizer

    require_text_parts(folder, [(encoder_dir, tokenizer_dir)])
    config = read_json(folder / encoder_dir / "config.json", folder)
    weights = folder / encoder_dir / TEXT_ENCODER_WEIGHTS
    encoder = build_text_encoder(config, read_safetensors(weights, folder), folder / encoder_dir,
                                 "copy the complete model again", projection=projection)
    encoder.to(placement.device).eval().requires_grad_(False)
    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(folder / tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"The tokenizer in {folder / tokenizer_dir} cannot be read ({exc}); copy the complete model again.") from exc
    return TextPart(encoder, tokenizer, config, [weights, *sorted(p for p in (folder / tokenizer_dir).iterdir() if p.is_file())])


def load_denoising_parts(folder: Path, placement: Placement, allow_pickle: bool):
    """The UNet (built, placed), its config and weights file, the autoencoder and the scheduler config."""
    unet_config = read_json(folder / "unet" / "config.json", folder)
    scheduler_config = read_scheduler_config(folder)
    check_scheduler(scheduler_config, folder)
    autoencoder = load_autoencoder(folder / "vae", folder, placement, allow_pickle)
    check_channels(unet_config, autoencoder, folder)
    unet_weights, unet_state = read_weights(folder / "unet", folder, allow_pickle)
    unet = build_checked(UNet2DConditionModel, unet_config, unet_state, folder, unet_weights)
    place(unet, placement)
    return unet, unet_config, unet_weights, autoencoder, scheduler_config


def load(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> StableDiffusion:
    require_text_parts(folder, [("text_encoder", "tokenizer")])
    unet, unet_config, unet_weights, autoencoder, scheduler_config = load_denoising_parts(folder, placement, allow_pickle)
    text = load_text_part(folder, "text_encoder", "tokenizer", placement)
    check_text_width(unet_config, [text.config], folder)
    digest = content_hash([unet_weights, autoencoder.weights_file, *text.files],
                          [unet_config, autoencoder.config, text.config, scheduler_config])
    return StableDiffusion(unet, autoencoder, text.encoder, text.tokenizer, scheduler_config, placement, digest,
                           unet_weights)
