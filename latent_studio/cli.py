"""Command line: ``latent-studio info | sample | embed | decode``.

User errors print one line and exit with status 2; a traceback appears only
with --verbose. torch and the engine are imported inside the commands, so
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from latent_studio import __version__
from latent_studio.core.errors import Cancelled, OutputError, UserError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_CANCELLED = 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except UserError as exc:
        _report(args, f"error: {exc}")
        return EXIT_USER_ERROR
    except (Cancelled, KeyboardInterrupt):
        _report(args, "cancelled; no output was written.")
        return EXIT_CANCELLED
    except Exception as exc:  # a bug: say so, keep the traceback behind --verbose
        _report(args, f"internal error: {type(exc).__name__}: {exc}. This is a bug; rerun with --verbose and report it.")
        return EXIT_INTERNAL_ERROR


def _report(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "verbose", False):
        traceback.print_exc()
    print(f"latent-studio: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latent-studio", description="Creative latent editing with diffusion models.")
    parser.add_argument("--version", action="version", version=f"latent-studio {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", help="model folder, bundled model name or Hugging Face id (default: the bundled demo model)")
    model.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: best available)")
    model.add_argument("--dtype", help="float32, float16 or bfloat16 (default: bf16/fp16 on GPUs, float32 on CPU)")
    model.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (only for sources you trust)")
    steps = argparse.ArgumentParser(add_help=False)
    steps.add_argument("--steps", type=_positive_int, help="DDIM steps (default 50; decode uses the latent's own)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", parents=[common, model], help="versions, device and model details")
    info.set_defaults(run=cmd_info)

    sample = sub.add_parser("sample", parents=[common, model, steps], help="decode the noise of a seed to a PNG")
    sample.add_argument("--seed", type=_non_negative_int, required=True)
    sample.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    sample.add_argument("--save-latent", type=Path, help="also write the seed's latent (.safetensors)")
    sample.set_defaults(run=cmd_sample)

    embed = sub.add_parser("embed", parents=[common, model, steps], help="find the latent of an image (prints PSNR)")
    embed.add_argument("image", type=Path)
    embed.add_argument("-o", "--output", type=Path, required=True, help="latent file to write (.safetensors)")
    embed.add_argument("--fixed-point", type=_non_negative_int, default=None, help="fixed-point iterations per step (default 3)")
    embed.add_argument("--refine", type=_non_negative_int, default=0, help="gradient refinement iterations (default 0)")
    embed.add_argument("--fit", choices=["crop", "pad"], default="crop", help="centre crop or pad to the model's shape")
    embed.add_argument("--background", default="#ffffff", help="colour under transparent pixels and padding")
    embed.add_argument("--reconstruction", type=Path, help="also write the reconstruction (PNG)")
    embed.set_defaults(run=cmd_embed)

    decode = sub.add_parser("decode", parents=[common, model, steps], help="decode a latent file to a PNG")
    decode.add_argument("latent", type=Path)
    decode.add_argument("-o", "--output", type=Path, required=True, help="PNG to write (numbered if the file holds several)")
    decode.set_defaults(run=cmd_decode)

    train = sub.add_parser("train-demo", parents=[common], help="train the bundled toy-heads demo model (resumable)")
    train.add_argument("--work", type=Path, default=Path("train-demo-work"), help="checkpoint folder (default ./train-demo-work)")
    train.add_argument("--out", type=Path, help="model folder to export to (default resources/models/toy-heads)")
    train.add_argument("--steps", type=_positive_int, help="total training steps (default from the recipe)")
    train.add_argument("--batch", type=_positive_int, help="batch size (default from the recipe)")
    train.add_argument("--stop-after", type=_positive_int, help="stop after this many steps of this run (resume later)")
    train.add_argument("--device", help="cuda, cpu, ... (default: CUDA when available)")
    train.add_argument("--workers", type=_non_negative_int, default=None, help="render processes (default: cores - 1)")
    train.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --work")
    train.add_argument("--export", action="store_true", help="export the EMA model even if the run stops early")
    train.set_defaults(run=cmd_train_demo)

    regressor = sub.add_parser("train-regressor", parents=[common], help="train the toy-head factor regressor used by the evaluation")
    regressor.add_argument("--out", type=Path, help="file to write (default resources/demo/factor_regressor.safetensors)")
    regressor.add_argument("--steps", type=_positive_int, help="training steps (default from the recipe)")
    regressor.set_defaults(run=cmd_train_regressor)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


# ---------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> int:
    import diffusers
    import torch

    from latent_studio.core.resources import bundled_models, resources_dir
    from latent_studio.engine.devices import choose_placement

    print(f"latent-studio {__version__}")
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, diffusers {diffusers.__version__}")
    print(f"device: {choose_placement(args.device, args.dtype).describe()}")
    print(f"resources: {resources_dir() or 'not found'}")
    print(f"bundled models: {', '.join(bundled_models()) or 'none'}")
    if args.model or bundled_models():
        model = _load(args)
        _print_model(model)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import save_latent
    from latent_studio.core.seeds import noise_latent
    from latent_studio.engine.decode import DEFAULT_STEPS, decode
    from latent_studio.media.images import save_png

    _check_output(args.output, ".png")
    if args.save_latent:
        _check_output(args.save_latent, ".safetensors")
    model = _load(args)
    steps = args.steps or DEFAULT_STEPS
    latent = noise_latent(args.seed, model.latent_shape)
    image = decode(model, latent, steps, progress=_progress_bar("sample"))[0]
    save_png(args.output, image)
    if args.save_latent:
        save_latent(args.save_latent, latent, _latent_metadata(model, steps, source=f"seed {args.seed}"))
    print(f"wrote {args.output} (seed {args.seed}, {steps} steps)")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import save_latent
    from latent_studio.engine.decode import DEFAULT_STEPS
    from latent_studio.engine.inversion import DEFAULT_FIXED_POINT_ITERATIONS, embed
    from latent_studio.media.images import load_prepared, save_png

    _check_output(args.output, ".safetensors")
    if args.reconstruction:
        _check_output(args.reconstruction, ".png")
    background = _parse_colour(args.background)
    model = _load(args)
    channels, height, width = model.latent_shape
    if height != width:
        raise UserError(f"Model '{model.source.spec}' makes {width}x{height} images; embedding needs a square model for now.")
    prepared = load_prepared(args.image, height, args.fit, background)
    steps = args.steps or DEFAULT_STEPS
    fixed_point = DEFAULT_FIXED_POINT_ITERATIONS if args.fixed_point is None else args.fixed_point
    result = embed(
        model, prepared.pixels, steps, fixed_point_iterations=fixed_point, refine_iterations=args.refine,
        progress=_progress_bar("embed"),
    )
    metadata = _latent_metadata(model, steps, source=args.image.name)
    metadata.update(prepared.preparation.as_metadata())
    metadata.update(psnr=f"{result.psnr:.3f}", fixed_point_iterations=str(fixed_point), refine_iterations=str(args.refine))
    save_latent(args.output, result.latent, metadata)
    if args.reconstruction:
        save_png(args.reconstruction, result.reconstruction)
    print(f"wrote {args.output}")
    print(f"reconstruction PSNR {result.psnr:.2f} dB; latent {result.stats.describe()}; {result.seconds:.1f} s")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import load_latent
    from latent_studio.engine.decode import DEFAULT_STEPS, decode
    from latent_studio.media.images import save_png

    _check_output(args.output, ".png")
    latent_file = load_latent(args.latent)
    model = _load(args)
    made_with = latent_file.metadata.get("model_hash")
    if made_with and made_with != model.content_hash:
        print(f"warning: {args.latent.name} was made with another model ({made_with[:12]}); the image will differ.", file=sys.stderr)
    steps = args.steps or int(latent_file.metadata.get("steps", DEFAULT_STEPS))
    images = decode(model, latent_file.latent, steps, progress=_progress_bar("decode"))
    outputs = _numbered(args.output, len(images))
    for path in outputs:
        _check_output(path, ".png")
    for path, image in zip(outputs, images, strict=True):
        save_png(path, image)
    print(f"wrote {', '.join(str(p) for p in outputs)} ({steps} steps)")
    return 0


def cmd_train_demo(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from latent_studio.core.resources import resources_dir
    from latent_studio.demo.training import (
        Recipe,
        device_description,
        export_model,
        train,
    )

    recipe = Recipe()
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch)) if v}
    recipe = dataclasses.replace(recipe, **overrides)
    out = args.out or (resources_dir() or Path("resources")) / "models" / "toy-heads"
    workers = args.workers if args.workers is not None else max(0, (os.cpu_count() or 1) - 1)
    hardware = device_description(args.device)
    print(f"training toy-heads: {recipe.steps} steps of batch {recipe.batch_size} on {hardware}; "
          f"checkpoints in {args.work}", flush=True)
    ema, state = train(recipe, args.work, device=args.device, workers=workers, resume=not args.no_resume,
                       stop_after=args.stop_after, progress=_training_progress())
    if state.step >= recipe.steps or args.export:
        export_model(ema, recipe, state, out, hardware)
        print(f"exported step {state.step} to {out}")
    else:
        print(f"stopped at step {state.step} of {recipe.steps}; run again to resume (or add --export)")
    return 0


def cmd_train_regressor(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from latent_studio.core.resources import resources_dir
    from latent_studio.demo.regressor import RegressorRecipe, held_out_report, save_regressor, train_regressor

    out = args.out or (resources_dir() or Path("resources")) / "demo" / "factor_regressor.safetensors"
    _check_output(out, ".safetensors")
    recipe = RegressorRecipe()
    if args.steps:
        recipe = dataclasses.replace(recipe, steps=args.steps)
    print(f"rendering {recipe.pool_batches * recipe.batch} heads, then {recipe.steps} steps", flush=True)
    model, info = train_regressor(recipe, progress=_step_logger())
    report = held_out_report(model, recipe)
    print(f"{'factor':<16}{'MAE':>9}{'% of range':>12}{'R2':>8}   (held-out identities)")
    for name, row in report.items():
        print(f"{name:<16}{row['mae']:>9.3f}{row['mae_percent']:>11.1f}%{row['r2']:>8.3f}")
    info["held_out"] = json.dumps({k: {m: round(v, 4) for m, v in row.items()} for k, row in report.items()})
    info["recipe"] = json.dumps(dataclasses.asdict(recipe))
    save_regressor(out, model, info)
    print(f"wrote {out}")
    return 0


def _step_logger():
    def log(step: int, total: int, loss: float) -> None:
        if step % 500 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.5f}", file=sys.stderr, flush=True)

    return log


def _training_progress():
    """Loss and ETA: a live line on a terminal, a log line every 50 steps otherwise."""
    interactive = sys.stderr.isatty()
    first: dict[str, float] = {}

    def show(step: int, total: int, loss: float, seconds: float) -> None:
        first.setdefault("step", step - 1)
        first.setdefault("seconds", seconds)
        done_here = step - first["step"]
        rate = done_here / max(seconds - first["seconds"], 1e-9) if done_here > 1 else 0.0
        eta = (total - step) / rate if rate else float("nan")
        line = f"step {step}/{total} loss {loss:.4f} {rate:.2f} steps/s ETA {eta / 60:.1f} min"
        if interactive:
            sys.stderr.write("\r" + line + ("\n" if step >= total else ""))
            sys.stderr.flush()
        elif step % 50 == 0 or step >= total:
            print(line, file=sys.stderr, flush=True)

    return show


# ---------------------------------------------------------------- helpers


def _load(args: argparse.Namespace):
    from latent_studio.engine.models import load_model

    return load_model(args.model, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle)


def _print_model(model) -> None:
    from latent_studio.engine.models import describe_scheduler

    channels, height, width = model.latent_shape
    print(f"model: {model.source.spec} ({model.source.kind}: {model.source.folder})")
    print(f"  {width}x{height} RGB, {model.parameter_count / 1e6:.2f} M parameters, {describe_scheduler(model.scheduler_config)}")
    print(f"  weights {model.weights_file.name}, content hash {model.short_hash}, on {model.placement.describe()}")


def _latent_metadata(model, steps: int, source: str) -> dict[str, str]:
    return {
        "model": model.source.spec,
        "model_hash": model.content_hash,
        "steps": str(steps),
        "source": source,
        "app_version": __version__,
    }


def _check_output(path: Path, suffix: str) -> None:
    from latent_studio.core.atomic import check_writable_destination

    if path.suffix.lower() != suffix:
        raise OutputError(f"{path} should end in {suffix}.")
    check_writable_destination(path)


def _numbered(path: Path, count: int) -> list[Path]:
    if count == 1:
        return [path]
    width = max(3, len(str(count - 1)))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(count)]


def _parse_colour(text: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return tuple(ImageColor.getrgb(text)[:3])
    except ValueError:
        raise UserError(f"Unknown colour '{text}': use a name (white) or #rrggbb.") from None


def _progress_bar(label: str):
    """A one-line bar with ETA on an interactive terminal; silent in logs and pipes."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        eta = elapsed / done * (total - done) if done else 0.0
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} ETA {eta:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
