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
