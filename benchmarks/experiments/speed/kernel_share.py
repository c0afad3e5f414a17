"""Issue 19: where the 256x256 celebahq-shaped UNet's GPU time goes, eager and compiled, by kind of kernel.

Why: the compiled engine reaches about 33% of the measured bf16 matrix rate (bench_roofline.py) against a 40%
goal. If the convolution and matrix kernels themselves run well below the matrix rate, or the rest (norms,
activations, attention, layout changes) takes a large share, no batch size or compile mode closes the gap;
this says which. One decode of ``--batch`` frames at ``--steps`` steps is profiled after a warm-up.

    python benchmarks/experiments/speed/kernel_share.py --device cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench_roofline import benchmark_celebahq_folder, flops_per_frame, matmul_rate  # noqa: E402

from latent_studio.core.seeds import noise_latent  # noqa: E402
from latent_studio.engine.compilation import set_compile  # noqa: E402
from latent_studio.engine.decode import decode  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402

KINDS = (  # first match wins; names as Inductor, cuDNN, cuBLAS and flash attention give their kernels
    ("fused by Inductor", ("triton",)),  # before the rest: Inductor names a fusion after its ops ("..._convolution_silu")
    ("convolution", ("fprop", "conv", "implicit", "wgrad", "dgrad")),
    ("matrix product", ("gemm", "nvjet", "cutlass", "matmul", "addmm", "mm_")),
    ("attention", ("flash", "fmha", "attention", "softmax")),
    ("layout change", ("nchw", "nhwc", "transpose", "permute", "copy")),
    ("norm / activation", ("norm", "silu", "elementwise", "reduce", "add", "mul")),
)


def kind_of(name: str) -> str:
    lowered = name.lower()
    for kind, needles in KINDS:
        if any(needle in lowered for needle in needles):
            return kind
    return "other"


def profiled(model, latents: np.ndarray, steps: int) -> dict[str, float]:
    """Device (or, on CPU, self CPU) microseconds per kernel name over one decode."""
    on_cuda = model.placement.device.type == "cuda"
    activities = [ProfilerActivity.CUDA] if on_cuda else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        decode(model, latents, steps, batch_size=len(latents))
        if on_cuda:
            torch.cuda.synchronize()
    times: dict[str, float] = {}
    for event in prof.key_averages():
        if on_cuda and event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        spent = event.self_device_time_total if on_cuda else event.self_cpu_time_total
        if spent > 0:
            times[event.key] = times.get(event.key, 0.0) + spent
    return times


def report(label: str, times: dict[str, float], flops: float, rate: float) -> None:
    total = sum(times.values())
    by_kind: dict[str, float] = collections.defaultdict(float)
    for name, spent in times.items():
        by_kind[kind_of(name)] += spent
    matrix = by_kind["convolution"] + by_kind["matrix product"]
    print(f"\n{label}: {total / 1e3:.1f} ms of kernels; {flops / (total * 1e-6) / 1e12:.1f} TFLOP/s over all of them "
          f"({flops / (total * 1e-6) / rate:.1%} of the matrix rate)")
    if matrix:
        print(f"  inside convolution and matrix kernels alone: {flops / (matrix * 1e-6) / 1e12:.1f} TFLOP/s "
              f"({flops / (matrix * 1e-6) / rate:.1%} of the matrix rate)")
    for kind, spent in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"  {kind:20s} {spent / total:6.1%}")
    print("  largest kernels:")
    for name, spent in sorted(times.items(), key=lambda item: -item[1])[:10]:
        print(f"    {spent / total:6.1%}  {name[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--model", default="celebahq", help="celebahq (the 256x256 shape) or a model id/folder")
    parser.add_argument("--device")
    parser.add_argument("--dtype")
    parser.add_argument("--skip-compiled", action="store_true")
    parser.add_argument("--layout", choices=("engine", "nchw"), default="engine",
                        help="nchw: the denoiser's weights back in the default layout instead of the engine's channels-last")
    args = parser.parse_args()
    folder = benchmark_celebahq_folder() if args.model == "celebahq" else args.model
    model = load_model(folder, device=args.device, dtype=args.dtype)
    if args.layout == "nchw":
        model.family.denoiser.to(memory_format=torch.contiguous_format)
    rate = matmul_rate(model.placement.device, model.placement.dtype)
    per_call, per_decode = flops_per_frame(model)
    flops = (per_call * args.steps + per_decode) * args.batch
    print(f"{folder} on {model.placement.describe()}: matrix rate {rate / 1e12:.1f} TFLOP/s; "
          f"{per_call / 1e9:.1f} GFLOP per denoiser call; layout {args.layout}; batch {args.batch}, {args.steps} steps")
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in range(args.batch)])
    decode(model, latents, 2, batch_size=args.batch)  # warm-up
    report("eager", profiled(model, latents, args.steps), flops, rate)
    if not args.skip_compiled:
        set_compile(model, "on", "default")  # Inductor without CUDA graphs, so the profiler sees every kernel
        decode(model, latents, 2, batch_size=args.batch)  # compiles
        report("compiled (default mode)", profiled(model, latents, args.steps), flops, rate)


if __name__ == "__main__":
    main()
