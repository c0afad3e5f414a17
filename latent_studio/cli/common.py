"""What every command shares: argument types, output checks, model loading, progress display."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from latent_studio import __version__
from latent_studio.core.errors import OutputError, UserError


@dataclass(frozen=True)
class Parents:
    """Option groups that commands share (argparse parent parsers)."""

    common: argparse.ArgumentParser
    model: argparse.ArgumentParser
    steps: argparse.ArgumentParser


def make_parents() -> Parents:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    model = argparse.ArgumentParser(add_help=False)
    add_model_options(model)
    steps = argparse.ArgumentParser(add_help=False)
    steps.add_argument("--steps", type=positive_int, help="DDIM steps (default 50; decode uses the latent's own)")
    return Parents(common, model, steps)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model folder, bundled model name or Hugging Face id (default: the bundled demo model)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: best available)")
    parser.add_argument("--dtype", help="float32, float16 or bfloat16 (default: bf16/fp16 on GPUs, float32 on CPU)")
    parser.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (only for sources you trust)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value



def load(args: argparse.Namespace):
    from latent_studio.engine.models import load_model

    return load_model(args.model, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle)


def print_model(model) -> None:
    from latent_studio.engine.models import describe_scheduler

    channels, height, width = model.latent_shape
    print(f"model: {model.source.spec} ({model.source.kind}: {model.source.folder})")
    print(f"  {width}x{height} RGB, {model.parameter_count / 1e6:.2f} M parameters, {describe_scheduler(model.scheduler_config)}")
    print(f"  weights {model.weights_file.name}, content hash {model.short_hash}, on {model.placement.describe()}")


def latent_metadata(model, steps: int, source: str) -> dict[str, str]:
    return {
        "model": model.source.spec,
        "model_hash": model.content_hash,
        "steps": str(steps),
        "source": source,
        "app_version": __version__,
    }


def check_output(path: Path, suffix: str) -> None:
    from latent_studio.core.atomic import check_writable_destination

    if path.suffix.lower() != suffix:
        raise OutputError(f"{path} should end in {suffix}.")
    check_writable_destination(path)


def numbered(path: Path, count: int) -> list[Path]:
    if count == 1:
        return [path]
    width = max(3, len(str(count - 1)))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(count)]


def parse_colour(text: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        return tuple(ImageColor.getrgb(text)[:3])
    except ValueError:
        raise UserError(f"Unknown colour '{text}': use a name (white) or #rrggbb.") from None


def progress_bar(label: str):
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
