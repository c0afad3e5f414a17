"""Issue 13: what a wider toy-heads UNet would cost on the 2-core CPU, before a GPU lease trains one.

The Fréchet gap is softness at full resolution (softness.py), which points at the first level's width (16 channels
in the shipped cpu recipe). For candidate architectures: parameters, GFLOP per UNet call (torch's flop counter),
and CPU milliseconds per call at batch 1 and 16 (float32, channels-last, as the engine runs it), with what that
makes of the shipped model's figures: embedding one image (`embed`, 3.4 s: about 100 UNet calls at batch 1) and
rendering (frames/s at 20 steps, batch 16).

    python benchmarks/experiments/model/arch_cost.py
"""
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from latent_studio.demo.training import CPU_RECIPE, RECIPES, build_unet

CANDIDATES = {
    "shipped cpu recipe (16,32,64,128), 1 layer, attention 8x8": CPU_RECIPE,
    "(32,32,64,128), 1 layer, attention 8x8": dataclasses.replace(CPU_RECIPE, block_out_channels=(32, 32, 64, 128)),
    "(32,32,64,128), 1 layer, attention 16x16 and 8x8": dataclasses.replace(CPU_RECIPE, block_out_channels=(32, 32, 64, 128), attention_levels=(2, 3)),
    "(24,48,96,128), 1 layer, attention 8x8": dataclasses.replace(CPU_RECIPE, block_out_channels=(24, 48, 96, 128), norm_num_groups=8),
    "(32,64,128,128), 1 layer, attention 8x8": dataclasses.replace(CPU_RECIPE, block_out_channels=(32, 64, 128, 128)),
    "(32,64,128,128), 1 layer, attention 16x16 and 8x8": dataclasses.replace(CPU_RECIPE, block_out_channels=(32, 64, 128, 128), attention_levels=(2, 3)),
    "gpu recipe (32,64,128,128), 2 layers, attention 16x16": RECIPES["gpu"],
}


def per_call_ms(unet, batch: int, repeat: int = 5) -> float:
    x = torch.randn(batch, 3, 64, 64).to(memory_format=torch.channels_last)
    t = torch.full((batch,), 500)
    with torch.inference_mode():
        unet(x, t)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            unet(x, t)
            best = min(best, time.perf_counter() - start)
    return 1000 * best


torch.set_num_threads(2)
base = None
print(f"{'architecture':<56}{'params':>8}{'GFLOP':>7}{'ms b1':>8}{'ms/fr b16':>10}  projected embed, render at 20 steps")
for name, recipe in CANDIDATES.items():
    unet = build_unet(recipe).eval().to(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        unet(torch.randn(1, 3, 64, 64), torch.tensor([500]))
    one, sixteen = per_call_ms(unet, 1), per_call_ms(unet, 16) / 16
    base = base or (one, sixteen)
    print(f"{name:<56}{sum(p.numel() for p in unet.parameters()) / 1e6:>7.1f}M{counter.get_total_flops() / 1e9:>7.2f}"
          f"{one:>8.1f}{sixteen:>10.1f}  embed {3.4 * one / base[0]:.1f} s, render {1000 / (20 * sixteen):.1f} fr/s", flush=True)
