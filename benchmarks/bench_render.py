"""Rendering 48 frames of the head-turn example: the project renderer vs the plain per-frame diffusers loop.

Same project, same frames (the same latents, built by the same frame
evaluation), same DDIM steps, same loaded model, in one run. Prints frames/s
of each, the ratio, and the largest pixel difference between the outputs.

    python benchmarks/bench_render.py [--project resources/examples/head_turn.lsproj] [--frames 48] [--steps 20]
        [--batch 8 16] [--also-dtype float32] [--compile] [--repeat 1]

The plain loop runs in float32, as diffusers loads a model; where the engine
decodes in another precision (bfloat16 on GPUs, and under autocast on CPUs with
AVX512-BF16 or AMX), a second plain-loop row in that precision says what
batching adds beyond it, and --also-dtype (default float32) adds renderer rows
with the UNet in another precision (the DDIM state stays float32); the pixel
differences say what each costs.
A row with the UNet's weights in the contiguous layout says what channels-last
(the engine's default) buys. --compile adds a row with the denoiser compiled by
torch.compile (engine.compilation; its one-off compile time is printed apart,
not counted in the row).

On a CPU the process's malloc is tuned when the model loads (engine/cpu_malloc.py); run it once more with
LATENT_STUDIO_MALLOC=default for the same rows without that (the plain loop gains from it too, less).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_decode import plain_diffusers_loop, print_rows, timed  # noqa: E402

from latent_studio.core.project import evaluate, frame_latent  # noqa: E402
from latent_studio.core.project_file import load_project  # noqa: E402
from latent_studio.core.resources import resources_dir  # noqa: E402
from latent_studio.engine.compilation import compile_failed, set_compile  # noqa: E402
from latent_studio.engine.cpu_malloc import malloc_tuned  # noqa: E402
from latent_studio.engine.devices import decoding_precision, dtype_name  # noqa: E402
from latent_studio.engine.families.files import use_fast_layout  # noqa: E402
from latent_studio.engine.models import load_model  # noqa: E402
from latent_studio.engine.render import FrameCache, render_frames  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=(resources_dir() or Path("resources")) / "examples" / "head_turn.lsproj")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--device")
    parser.add_argument("--also-dtype", default="float32", help="more renderer rows in this precision, when it is not "
                        "the engine's own ('' for none)")
    parser.add_argument("--compile", action="store_true", help="one more renderer row with the denoiser compiled")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each renderer row; the fastest counts")
    args = parser.parse_args()

    shipped = load_project(args.project)
    # The plain loop decodes x_T alone, so the renderer is compared on the same work: every direction plain.
    # The shipped decode (directions with source attention read their source) gets its own row.
    project = dataclasses.replace(shipped, directions={k: dataclasses.replace(d, source_attention_from=None)
                                                       for k, d in shipped.directions.items()})
    model = load_model(project.model.spec, device=args.device)  # the engine's precision for this device
    # The plain loop is what a user writes after diffusers' from_pretrained, which loads float32.
    plain_model = model if model.placement.dtype == torch.float32 else load_model(project.model.spec,
                                                                                 device=args.device, dtype="float32")
    precision = dtype_name(model.placement.decoding)
    frames = list(range(min(args.frames, project.settings.frame_count)))
    latents = np.stack([frame_latent(project, evaluate(project, project.settings.frame_time(i))) for i in frames])
    print(f"{args.project.name}: {len(frames)} frames x {args.steps} DDIM steps on {model.source.spec} "
          f"({model.parameter_count / 1e6:.1f} M params, {model.placement.describe()}, torch threads {torch.get_num_threads()}, "
          f"malloc {'tuned' if malloc_tuned() else 'as the C library has it'})\n")

    list(render_frames(model, project, frames[:2], 2, batch_size=2))  # warm-up
    plain_model.family.unet.to(memory_format=torch.contiguous_format)  # as diffusers loads it for the user
    plain_diffusers_loop(plain_model, latents[:1], 2)
    reference, plain_s = timed(lambda: plain_diffusers_loop(plain_model, latents, args.steps))
    use_fast_layout(plain_model.family.unet, plain_model.placement)
    rows = [("plain diffusers loop (per frame, float32)", plain_s, 0)]
    if precision != "float32":  # the same loop in the engine's decoding precision: what batching adds beyond it
        model.family.unet.to(memory_format=torch.contiguous_format)
        with decoding_precision(model.placement):
            ours, seconds = timed(lambda: plain_diffusers_loop(model, latents, args.steps))
        rows.append((f"plain diffusers loop (per frame, {precision})", seconds, _largest_difference(ours, reference)))
        use_fast_layout(model.family.unet, model.placement)

    def render_row(name: str, batch: int, by=model) -> None:
        best = float("inf")
        for _ in range(args.repeat):  # the fastest run: another process on the machine only ever slows one down
            started = time.perf_counter()
            ours = np.stack([f.image for f in render_frames(by, project, frames, args.steps, batch_size=batch)])
            best = min(best, time.perf_counter() - started)
        rows.append((name, best, _largest_difference(ours, reference)))

    for batch in args.batch:
        render_row(f"project renderer, batch {batch} ({precision})", batch)
    batch = args.batch[0]
    model.family.unet.to(memory_format=torch.contiguous_format)
    render_row(f"project renderer, batch {batch}, UNet contiguous (no channels-last)", batch)
    use_fast_layout(model.family.unet, model.placement)
    if args.compile:
        set_compile(model, "on")
        started = time.perf_counter()
        list(render_frames(model, project, frames[:batch], args.steps, batch_size=batch))  # compiles
        compile_s, failed = time.perf_counter() - started, compile_failed(model)
        render_row(f"project renderer, batch {batch}, torch.compile", batch)
        set_compile(model, "off")
        print(f"torch.compile: first batch (compiling) {compile_s:.1f} s{', FAILED: eager' if failed else ''}")
    if any(d.source_attention_from is not None for d in shipped.directions.values()):
        started = time.perf_counter()
        list(render_frames(model, shipped, frames, args.steps, batch_size=args.batch[0]))
        rows.append((f"as shipped (source attention), batch {args.batch[0]}", time.perf_counter() - started, "-"))
    if args.also_dtype and args.also_dtype != precision:
        other = load_model(project.model.spec, device=args.device, dtype=args.also_dtype)
        list(render_frames(other, project, frames[:2], 2, batch_size=2))  # warm-up
        for batch in args.batch:
            render_row(f"project renderer, batch {batch}, UNet in {args.also_dtype}", batch, other)
    cache = FrameCache()
    list(render_frames(model, project, frames, args.steps, cache=cache))
    _, cached_s = timed(lambda: list(render_frames(model, project, frames, args.steps, cache=cache)))
    rows.append(("project renderer, second pass (cached)", cached_s, 0))

    print_rows(rows, len(frames))


def _largest_difference(ours: np.ndarray, reference: np.ndarray) -> int:
    return int(np.abs(ours.astype(int) - reference.astype(int)).max())


if __name__ == "__main__":
    main()
