"""Shared fixtures: tiny seeded diffusion models built in code, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the network
# The same precision on every CI machine, whatever its CPU (bf16 where it has bf16 instructions); tests of that
# choice set it themselves.
os.environ["LATENT_STUDIO_CPU_DTYPE"] = "float32"


def make_tiny_unet(seed: int = 0, sample_size: int = 16, channels: tuple[int, int] = (8, 16)):
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=channels,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )


def make_scheduler(**overrides):
    from diffusers import DDPMScheduler

    settings = {"num_train_timesteps": 1000, "clip_sample": False}
    settings.update(overrides)
    return DDPMScheduler(**settings)


def save_pipeline(folder: Path, unet, scheduler) -> Path:
    from diffusers import DDPMPipeline

    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(folder)
    return folder


def blob_images(count: int, size: int, generator):
    """Procedural training images: a soft disc of one colour on another, in [-0.8, 0.8]."""
    import torch

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    background = torch.rand(count, 3, 1, 1, generator=generator) * 1.6 - 0.8
    foreground = torch.rand(count, 3, 1, 1, generator=generator) * 1.6 - 0.8
    cx, cy = (torch.rand(count, 1, 1, 1, generator=generator) * 0.8 - 0.4 for _ in range(2))
    radius = torch.rand(count, 1, 1, 1, generator=generator) * 0.3 + 0.3
    mask = torch.sigmoid((radius - ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()) * 12)
    return background * (1 - mask) + foreground * mask


def train_tiny(unet, scheduler, steps: int = 200, batch: int = 32, seed: int = 0):
    """A few hundred denoising steps: enough for a model whose decode can be inverted."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=2e-3)
    for _ in range(steps):
        clean = blob_images(batch, unet.config.sample_size, generator)
        noise = torch.randn(clean.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=generator)
        loss = torch.mean((unet(scheduler.add_noise(clean, noise, t), t).sample - noise) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return unet.eval()


@pytest.fixture(scope="session")
def untrained_model_dir(tmp_path_factory) -> Path:
    return save_pipeline(tmp_path_factory.mktemp("models") / "untrained", make_tiny_unet(), make_scheduler())


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    scheduler = make_scheduler()
    unet = train_tiny(make_tiny_unet(), scheduler)
    return save_pipeline(tmp_path_factory.mktemp("models") / "trained", unet, scheduler)


@pytest.fixture(scope="session")
def trained_model(trained_model_dir):
    from latent_studio.engine.models import load_model

    return load_model(str(trained_model_dir), device="cpu")
