"""How close decoding comes to the hardware's limit: FLOPs per frame, frames/s, achieved TFLOP/s and the fraction of
a matrix-product rate measured in the same run, for the plain per-frame loop and the engine, side by side.

Models: the bundled demo model (64x64), a seeded random pixel UNet of google/ddpm-celebahq-256's shape
(256x256, 114 M parameters) and a seeded random Stable-Diffusion-1.5-shaped latent model (UNet 860 M and its
KL autoencoder; 512x512 pictures unless --sd-size says less). FLOPs are counted by torch.utils.flop_counter on
one denoiser call and one autoencoder decode per frame; the matrix rate is the best of a few large matrix
products in the placement's decoding precision (bf16 on a CPU with bf16 instructions, whose weights stay
float32), in which both rows decode. Runs on CPU too, where the defaults are small.

    python benchmarks/bench_roofline.py [--models demo,celebahq,sd] [--frames N] [--steps 10] [--batch B]
        [--device cuda] [--dtype bfloat16] [--sd-size 256] [--compile default,reduce-overhead]
        [--cudnn-benchmark]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _models import benchmark_celebahq_folder, benchmark_sd_folder  # noqa: E402
from diffusers import DDIMScheduler  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from latent_studio.core.seeds import noise_latent  # noqa: E402
from latent_studio.engine.batch_size import auto_batch  # noqa: E402
from latent_studio.engine.compilation import compile_failed, set_compile  # noqa: E402
from latent_studio.engine.decode import decode  # noqa: E402
from latent_studio.engine.devices import decoding_precision  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402


def matmul_rate(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of the best of five large square matrix products."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * n**3 / best


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_frame(model) -> tuple[float, float]:
    """(denoiser FLOPs per call, autoencoder-decode FLOPs per picture), counted on one frame."""
    x = torch.from_numpy(noise_latent(0, model.latent_shape))[None].to(model.placement.device)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model.family.denoise(x, 500)
        per_call = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            model.family.to_images(x)
    return float(per_call), float(counter.get_total_flops())


def plain_loop(model, latents: np.ndarray, steps: int) -> None:
    """What a user writes: one frame at a time, the denoiser and DDIMScheduler.step per step, then the decoder; the
    denoiser in the engine's decoding precision, as the engine runs it, so that the two rows compare like for like."""
    scheduler = DDIMScheduler.from_config(model.scheduler_config)
    with torch.inference_mode():
        for latent in latents:
            scheduler.set_timesteps(steps)
            x = torch.from_numpy(latent)[None].to(model.placement.device)
            for t in scheduler.timesteps:
                with decoding_precision(model.placement):
                    noise = model.family.denoise(x, int(t))
                x = scheduler.step(noise, t, x, eta=0.0).prev_sample
            model.family.to_images(x).cpu()


def timed(fn, device) -> tuple[float, object]:
    """(seconds, result) of one call, the device synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def bench(name: str, folder: str, args, rate: float) -> None:
    model = load_model(folder, device=args.device, dtype=args.dtype)
    device = model.placement.device
    frames = args.frames or (4 if device.type == "cpu" else 64)
    batch = args.batch or (4 if device.type == "cpu" else 32)
    per_call, per_decode = flops_per_frame(model)
    per_frame = per_call * args.steps + per_decode
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in range(frames)])
    decode(model, latents[:2], 2, batch_size=2)  # warm-up
    plain_loop(model, latents[:1], 2)
    plain_seconds, _ = timed(lambda: plain_loop(model, latents, args.steps), device)
    engine_seconds, reference = timed(lambda: decode(model, latents, args.steps, batch_size=batch), device)
    rows = [("plain loop (per frame)", plain_seconds, ""), (f"engine, batch {batch}", engine_seconds, "")]
    auto = auto_batch(model)
    if auto != batch:
        seconds, pictures = timed(lambda: decode(model, latents, args.steps, batch_size=auto), device)
        rows.append((f"engine, batch auto ({auto})", seconds, difference(pictures, reference)))
    for torch_mode in filter(None, (args.compile or "").split(",")):
        rows.append(compiled_row(model, latents, args, batch, torch_mode, reference))
    height, width = model.image_size
    print(f"\n{name}: {model.family.name}, {width}x{height}, {model.parameter_count / 1e6:.0f} M parameters, "
          f"{model.placement.describe()}; {per_call / 1e9:.1f} GFLOP per denoiser call, {per_decode / 1e9:.1f} GFLOP "
          f"per decoder pass, {per_frame / 1e12:.3f} TFLOP per frame at {args.steps} steps; {frames} frames")
    print(f"  {'method':<44}{'frames/s':>10}{'TFLOP/s':>10}{'of matmul':>11}{'vs plain':>10}  pixels vs engine")
    for label, seconds, note in rows:
        achieved = per_frame * frames / seconds
        print(f"  {label:<44}{frames / seconds:>10.2f}{achieved / 1e12:>10.3f}{achieved / rate:>10.1%}"
              f"{rows[0][1] / seconds:>9.2f}x  {note}", flush=True)


def compiled_row(model, latents, args, batch: int, torch_mode: str, reference: np.ndarray) -> tuple[str, float, str]:
    """The engine with its denoiser compiled in ``torch_mode`` (engine.compilation); the first decode, which
    compiles, is timed apart and not counted."""
    set_compile(model, "on", torch_mode)
    try:
        compile_seconds, _ = timed(lambda: decode(model, latents[:batch], args.steps, batch_size=batch),
                                   model.placement.device)
        seconds, pictures = timed(lambda: decode(model, latents, args.steps, batch_size=batch), model.placement.device)
        failed = " FAILED, ran eagerly" if compile_failed(model) else ""
    finally:
        set_compile(model, "off")
        torch._dynamo.reset()
    return (f"engine, batch {batch}, compiled {torch_mode}{failed}", seconds,
            f"{difference(pictures, reference)} (compiling {compile_seconds:.0f} s)")


def difference(pictures: np.ndarray, reference: np.ndarray) -> str:
    return f"max {int(np.abs(pictures.astype(np.int32) - reference.astype(np.int32)).max())} levels"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="demo,celebahq,sd", help="comma-separated subset of demo, celebahq, sd")
    parser.add_argument("--frames", type=int, help="frames per method (default 4 on CPU, 64 on a GPU)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, help="the engine's batch (default 4 on CPU, 32 on a GPU)")
    parser.add_argument("--sd-size", type=int, default=512, help="picture size of the SD-shaped model (default 512)")
    parser.add_argument("--compile", metavar="MODES",
                        help="rows with the denoiser compiled, one per torch.compile mode, e.g. default,reduce-overhead "
                             "(reduce-overhead records CUDA graphs)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its convolution algorithms for each shape first (both rows get it)")
    parser.add_argument("--device")
    parser.add_argument("--dtype")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark

    torch.manual_seed(0)
    probe = load_model("toy-heads", device=args.device, dtype=args.dtype).placement
    rate = matmul_rate(probe.device, probe.decoding)
    print(f"matrix-product rate on {probe.describe()}: {rate / 1e12:.3f} TFLOP/s (torch threads {torch.get_num_threads()}"
          f"{', cuDNN benchmark mode' if args.cudnn_benchmark else ''})")
    folders = {"demo": lambda: "toy-heads", "celebahq": benchmark_celebahq_folder,
               "sd": lambda: benchmark_sd_folder(args.sd_size)}
    for name in args.models.split(","):
        bench(name, folders[name](), args, rate)


if __name__ == "__main__":
    main()
