"""Issue 13: is toy-heads' softness (the Fréchet gap: samples read like renders blurred by about half a pixel) fixed
by training the shipped model further on low noise levels only, where the fine detail is decided?

Fine-tunes the bundled UNet with v-prediction on fresh renders, timesteps drawn from [0, TMAX) only, at a small
constant learning rate, EMA DECAY; writes the EMA model to OUT (a copy of the bundled folder with new UNet weights).
Then measure its Fréchet distance beside the bundled model's (benchmarks/experiments/model/softness.py).

    OUT=/tmp/lownoise STEPS=400 TMAX=250 LR=5e-5 python benchmarks/experiments/model/lownoise.py
"""
import copy
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler
from safetensors.torch import save_file

from latent_studio.core.resources import resources_dir
from latent_studio.demo.data import Prefetcher
from latent_studio.demo.training import CPU_RECIPE, _update_ema, training_target
from latent_studio.engine.ddim import from_uint8
from latent_studio.engine.models import load_model

OUT, STEPS, TMAX = Path(os.environ.get("OUT", "/tmp/lownoise")), int(os.environ.get("STEPS", 400)), int(os.environ.get("TMAX", 250))
LR, DECAY, BATCH = float(os.environ.get("LR", 5e-5)), float(os.environ.get("DECAY", 0.99)), int(os.environ.get("BATCH", 32))
source = resources_dir() / "models" / "toy-heads"
model = load_model(str(source), device="cpu")
unet = copy.deepcopy(model.family.denoiser).float().train().requires_grad_(True)
unet.to(memory_format=torch.contiguous_format)
ema = copy.deepcopy(unet).requires_grad_(False)
alphas = DDPMScheduler.from_config(model.scheduler_config).alphas_cumprod.float()
optimiser = torch.optim.AdamW(unet.parameters(), lr=LR, weight_decay=0.0)
started, losses = time.perf_counter(), []
with Prefetcher(seed=7, size=64, count=BATCH, supersample=2, workers=1) as batches:  # a stream the model never saw
    for step in range(STEPS):
        clean = from_uint8(torch.from_numpy(batches.get(step).images))
        generator = torch.Generator().manual_seed(step)
        noise = torch.randn(clean.shape, generator=generator)
        t = torch.randint(0, TMAX, (BATCH,), generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * clean + (1 - a).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(noisy, t).sample, training_target(CPU_RECIPE, clean, noise, a))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        _update_ema(ema, unet, DECAY)
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{STEPS} loss {np.mean(losses[-50:]):.5f} ({time.perf_counter() - started:.0f} s)", flush=True)
shutil.rmtree(OUT, ignore_errors=True)
shutil.copytree(source, OUT, ignore=shutil.ignore_patterns("draft", "embedder", "directions"))
save_file({k: v.detach().half().contiguous() for k, v in ema.state_dict().items()}, str(OUT / "unet" / "diffusion_pytorch_model.safetensors"))
print(f"wrote {OUT} in {time.perf_counter() - started:.0f} s")
