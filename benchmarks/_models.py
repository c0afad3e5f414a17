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
