"""The SDXL family: Stable Diffusion with two text encoders, a pooled text embedding and size conditions.

The diffusers layout of SDXL base (``text_encoder/`` CLIP ViT-L,
``text_encoder_2/`` OpenCLIP ViT-bigG with its projection, ``tokenizer/``,
``tokenizer_2/``, ``vae/``, ``unet/``, ``scheduler/``). As diffusers'
``StableDiffusionXLPipeline`` encodes a prompt: each encoder's penultimate
hidden states, side by side, are what cross-attention reads; the second
encoder's projected embedding is the pooled one the UNet adds to its time
embedding, with the picture's size (original size, crop corner, target
size: the model's own square, uncropped). An empty negative prompt is zeros
where the model asks for it (``force_zeros_for_empty_prompt``). Everything
else, DDIM over the KL latent included, is the Stable-Diffusion family's.
The refiner (one text encoder, aesthetic-score conditions) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from latent_studio.core.errors import ModelError
from latent_studio.engine.devices import Placement
from latent_studio.engine.families import stable_diffusion
from latent_studio.engine.families.files import content_hash, read_json
from latent_studio.engine.families.stable_diffusion import (
    StableDiffusion,
    check_text_width,
    load_denoising_parts,
    load_text_part,
    require_text_parts,
)

NAME = "Stable Diffusion XL"


def claims(folder: Path) -> bool:
    return (folder / "text_encoder_2").is_dir() and stable_diffusion.claims(folder)


class StableDiffusionXL(StableDiffusion):
    name = NAME

    def __init__(self, unet, autoencoder, text_encoder, tokenizer, text_encoder_2, tokenizer_2, *,
                 force_zeros_for_empty_prompt: bool, scheduler_config: dict[str, Any], placement: Placement,
                 content_hash: str, weights_file: Path) -> None:
        self.text_encoder_2 = text_encoder_2
        self.tokenizer_2 = tokenizer_2
        self.force_zeros_for_empty_prompt = force_zeros_for_empty_prompt
        super().__init__(unet, autoencoder, text_encoder, tokenizer, scheduler_config, placement, content_hash,
                         weights_file)

    def modules(self) -> list[torch.nn.Module]:
        return [*super().modules(), self.text_encoder_2]

    @torch.no_grad()
    def embed_prompt(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = []
        for encoder, tokenizer in ((self.text_encoder, self.tokenizer), (self.text_encoder_2, self.tokenizer_2)):
            output = encoder(self.tokens(tokenizer, prompt), output_hidden_states=True)
            hidden.append(output.hidden_states[-2])
        return torch.cat(hidden, dim=-1), output.text_embeds  # the second encoder's projection is the pooled one

    def embed_negative(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, pooled = self.embed_prompt(prompt)
        if prompt == "" and self.force_zeros_for_empty_prompt:
            return torch.zeros_like(embedding), torch.zeros_like(pooled)
        return embedding, pooled

    def added_conditions(self, pooled: torch.Tensor | None, rows: int, dtype: torch.dtype) -> dict[str, Any]:
        height, width = self.image_size
        sizes = torch.tensor([[height, width, 0, 0, height, width]], dtype=dtype, device=self.placement.device)
        text = pooled.repeat_interleave(rows // pooled.shape[0], dim=0).to(dtype)
        return {"added_cond_kwargs": {"text_embeds": text, "time_ids": sizes.repeat(rows, 1)}}


def load(folder: Path, placement: Placement, *, allow_pickle: bool = False) -> StableDiffusionXL:
    if not (folder / "text_encoder").is_dir():
        raise ModelError(f"{folder} is an SDXL refiner (one text encoder); Latent Studio loads SDXL base models.")
    require_text_parts(folder, [("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")])
    if read_json(folder / "unet" / "config.json", folder).get("addition_embed_type") != "text_time":
        raise ModelError(f"{folder} has two text encoders but its UNet does not read SDXL's size conditions; "
                         "it is a kind of model Latent Studio does not load.")
    unet, unet_config, unet_weights, autoencoder, scheduler_config = load_denoising_parts(folder, placement, allow_pickle)
    first = load_text_part(folder, "text_encoder", "tokenizer", placement)
    second = load_text_part(folder, "text_encoder_2", "tokenizer_2", placement, projection=True)
    check_text_width(unet_config, [first.config, second.config], folder)
    index = read_json(folder / "model_index.json", folder) if (folder / "model_index.json").is_file() else {}
    force_zeros = bool(index.get("force_zeros_for_empty_prompt", True))  # SDXL pipelines' default
    digest = content_hash([unet_weights, autoencoder.weights_file, *first.files, *second.files],
                          [unet_config, autoencoder.config, first.config, second.config, scheduler_config,
                           {"force_zeros_for_empty_prompt": force_zeros}])
    return StableDiffusionXL(unet, autoencoder, first.encoder, first.tokenizer, second.encoder, second.tokenizer,
                             force_zeros_for_empty_prompt=force_zeros, scheduler_config=scheduler_config,
                             placement=placement, content_hash=digest, weights_file=unet_weights)
