"""Benchmark models: the user's choice, or a seeded random UNet of the demo model's size.

Speed does not depend on what the weights learned, so a seeded random model of
the right architecture measures the same time as a trained one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def benchmark_model_folder(spec: str | None, size: int = 64) -> str:
    if spec:
        return spec
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=size,
        in_channels=3,
        out_channels=3,
        layers_per_block=2,
        block_out_channels=(32, 64, 128, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=32,
    )
    folder = Path(tempfile.mkdtemp(prefix="ls-bench-")) / "random-64"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)
    return str(folder)


def benchmark_latent_model_folder(image_size: int = 64) -> str:
    """A seeded random latent-diffusion model in the ldm-celebahq-256 layout: a VQ autoencoder (4x down) and a UNet."""
    import json

    import torch
    from diffusers import DDPMScheduler, UNet2DModel, VQModel

    torch.manual_seed(0)
    vqvae = VQModel(
        in_channels=3, out_channels=3, latent_channels=3, num_vq_embeddings=8192, sample_size=image_size,
        block_out_channels=(128, 256, 512), layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
    )
    unet = UNet2DModel(
        sample_size=image_size // 4, in_channels=3, out_channels=3, layers_per_block=2,
        block_out_channels=(64, 128, 256), norm_num_groups=32,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    )
    folder = Path(tempfile.mkdtemp(prefix="ls-bench-")) / f"random-latent-{image_size}"
    vqvae.save_pretrained(folder / "vqvae")
    unet.save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")
    index = {"_class_name": "LDMPipeline", "unet": ["diffusers", "UNet2DModel"], "vqvae": ["diffusers", "VQModel"],
             "scheduler": ["diffusers", "DDPMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    return str(folder)


def benchmark_celebahq_folder() -> str:
    """A seeded random pixel UNet of google/ddpm-celebahq-256's shape (256x256, 114 M parameters)."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=256, in_channels=3, out_channels=3, layers_per_block=2,
        block_out_channels=(128, 128, 256, 256, 512, 512),
        down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
    )
    folder = Path(tempfile.mkdtemp(prefix="ls-bench-")) / "random-celebahq-256"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)
    return str(folder)


def benchmark_sd_folder(image_size: int = 512) -> str:
    """A seeded random model of Stable Diffusion 1.5's shape (UNet 860 M, KL autoencoder 84 M, CLIP text encoder 123 M).

    The tokenizer is a letters-only CLIP vocabulary: the text encoder runs once per prompt, so its vocabulary
    does not change a decode's speed.
    """
    import json
    import string

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp(prefix="ls-bench-")) / f"random-sd15-{image_size}"
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        sample_size=image_size, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    ).save_pretrained(folder / "vae")
    UNet2DConditionModel(
        sample_size=image_size // 8, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    ).save_pretrained(folder / "unet")
    CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                 vocab_size=49408)).save_pretrained(folder / "text_encoder")
    vocab = {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
    vocab.update({letter + suffix: i for i, (letter, suffix) in
                  enumerate((c, s) for s in ("", "</w>") for c in string.ascii_lowercase)})
    source = folder / "tokenizer-source"
    source.mkdir()
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer.from_pretrained(str(source), model_max_length=77).save_pretrained(str(folder / "tokenizer"))
    DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                  set_alpha_to_one=False, steps_offset=1).save_pretrained(folder / "scheduler")
    return str(folder)
