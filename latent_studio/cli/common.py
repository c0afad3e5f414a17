"""What every command shares: argument types, output checks, model loading, progress display."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from latent_studio import __version__
from latent_studio.core.errors import OutputError, UserError
from latent_studio.core.project import FRAME_RATES, MAX_DURATION, MAX_SIZE, MAX_STEPS, MIN_SIZE
from latent_studio.core.project_file import MAX_STRENGTH
from latent_studio.core.seeds import MAX_SEED


@dataclass(frozen=True)
class Parents:
    """Option groups that commands share (argparse parent parsers)."""

    common: argparse.ArgumentParser
    model: argparse.ArgumentParser
    steps: argparse.ArgumentParser


def make_parents() -> Parents:
    common = Parser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    model = Parser(add_help=False)
    add_model_options(model)
    steps = Parser(add_help=False)
    steps.add_argument("--steps", type=steps_int, help="DDIM steps (default 50; decode uses the latent's own)")
    return Parents(common, model, steps)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model folder, bundled model name or Hugging Face id (default: the bundled demo model)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: best available)")
    parser.add_argument("--dtype", help="float32, float16 or bfloat16 (default: bf16/fp16 on GPUs; on a CPU float32, decoding in bf16 where it has bf16 instructions)")
    parser.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (only for sources you trust)")


MAX_BATCH = 256
MAX_ITERATIONS = 100_000
MAX_FILE_NUMBER = 10**9


def bounded_int(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], with the allowed range in the message."""
    span = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number; give one {span}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a whole number {span}")
        return value

    return parse


def bounded_float(low: float, high: float, *, low_open: bool = False):
    """An argparse type: a finite number in [low, high] (or (low, high]), with the allowed range in the message."""
    span = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number; give one {span}") from None
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number {span}")
        return value

    return parse


positive_int = bounded_int(1)
duration_float = bounded_float(0.0, MAX_DURATION, low_open=True)
offset_float = bounded_float(-MAX_DURATION, MAX_DURATION)
scale_float = bounded_float(0.0, 64.0, low_open=True)
non_negative_int = bounded_int(0)
seed_int = bounded_int(0, MAX_SEED)
steps_int = bounded_int(1, MAX_STEPS)
batch_int = bounded_int(1, MAX_BATCH)
iterations_int = bounded_int(0, MAX_ITERATIONS)
file_number_int = bounded_int(0, MAX_FILE_NUMBER)


def _integers(text: str) -> tuple[int, ...]:
    """'16,32,64' as integers; () when it is not such a list."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        return ()


def channel_list(text: str) -> tuple[int, ...]:
    """An argparse type: '16,32,64,128', two to six widths, each a multiple of 8."""
    widths = _integers(text)
    if not 2 <= len(widths) <= 6 or any(w < 8 or w > 1024 or w % 8 for w in widths):
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of widths; give 2 to 6 multiples of 8, e.g. 16,32,64,128")
    return widths


def level_list(text: str) -> tuple[int, ...]:
    """An argparse type: '2,3', UNet levels counted from 0 at full resolution."""
    levels = _integers(text)
    if not levels or any(not 0 <= level < 6 for level in levels):
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of levels; give numbers from 0 (full resolution), e.g. 2,3")
    return levels


def batch_option(text: str) -> int | str:
    """``auto`` (chosen from free memory after the model loads: engine.batch_size) or a batch_int."""
    if text == "auto":
        return text
    try:
        return batch_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or auto") from None


def frame_rate(text: str) -> str:
    if text not in FRAME_RATES:
        raise argparse.ArgumentTypeError(f"{text} is not a supported frame rate; choose one of {', '.join(FRAME_RATES)}")
    return text


def size_pair(text: str) -> tuple[int, int]:
    """WxH, each even and from MIN_SIZE to MAX_SIZE pixels."""
    span = f"even numbers from {MIN_SIZE} to {MAX_SIZE}"
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' should look like 256x256 (width x height, {span})") from None
    for value in (width, height):
        if not MIN_SIZE <= value <= MAX_SIZE or value % 2:
            raise argparse.ArgumentTypeError(f"{text} is out of range; width and height must be {span}")
    return width, height


def frame_range(text: str) -> tuple[int, int]:
    """A-B: first and last frame, inclusive, from 0, first <= last."""
    try:
        first, last = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' should look like 0-47 (first and last frame, inclusive, from 0)") from None
    if first > last:
        raise argparse.ArgumentTypeError(f"{text} runs backwards; give the first frame, then a last frame at or after it")
    return first, last


def direction_setting(text: str) -> tuple[str, float]:
    """NAME=VALUE: a direction (by name or id) held at a constant strength."""
    name, sep, value = text.rpartition("=")
    try:
        strength = float(value)
    except ValueError:
        strength = None
    if not sep or not name.strip() or strength is None:
        raise argparse.ArgumentTypeError(f"'{text}' should look like \"Head turn=30\" (a direction's name, =, a number)")
    if not math.isfinite(strength) or abs(strength) > MAX_STRENGTH:
        raise argparse.ArgumentTypeError(f"{value} is not a strength; use a number from {-MAX_STRENGTH:g} to {MAX_STRENGTH:g}")
    return name.strip(), strength


class UsageError(UserError):
    """A command line argparse refuses: ``main`` prints it as one line and returns 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one line, exit 2) instead of printing the usage block; subcommands inherit it."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help').")


def load(args: argparse.Namespace):
    from latent_studio.engine.models import load_model

    return load_model(args.model, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle)


def print_model(model) -> None:
    from latent_studio.engine.models import describe_scheduler

    height, width = model.image_size
    print(f"model: {model.source.spec} ({model.source.kind}: {model.source.folder})")
    print(f"  {width}x{height} RGB {model.family.name}, latent {'x'.join(map(str, model.latent_shape))}, {model.parameter_count / 1e6:.2f} M parameters, {describe_scheduler(model.scheduler_config)}")
    print(f"  weights {model.weights_file.name}, content hash {model.short_hash}, on {model.placement.describe()}")
    parts = [f"{type(m).__name__} {sum(p.numel() for p in m.parameters()) / 1e6:.2f} M" for m in model.family.modules()]
    print(f"  components: {', '.join(parts)}")
    if model.embedder is not None:
        info = model.embedder.info
        quality = f", held-out reconstruction {info['held_out_psnr_mean']:.1f} dB" if "held_out_psnr_mean" in info else ""
        print(f"  embedding network for {model.embedder.steps} DDIM steps{quality} (embed --mode network)")
    if model.draft is not None:
        info = model.draft.info
        quality = f", {info['held_out_psnr_mean']:.1f} dB against them held out" if "held_out_psnr_mean" in info else ""
        print(f"  draft decoder: one pass for the picture of {model.draft.steps} DDIM steps{quality} (render --draft)")


def add_prompt_options(parser: argparse.ArgumentParser, what: str) -> None:
    """--prompt, --negative-prompt and --guidance, for text-conditioned models (Stable Diffusion)."""
    parser.add_argument("--prompt", help=f"what a text-conditioned model (Stable Diffusion) reads {what}")
    parser.add_argument("--negative-prompt", help="what guidance steers away from (with --guidance above 1)")
    parser.add_argument("--guidance", type=bounded_float(1.0, 30.0),
                        help="classifier-free guidance scale, 1 to 30 (default 1, where DDIM inversion is exact)")


def prompt_conditioning(model, args: argparse.Namespace, recorded: dict[str, str] | None = None):
    """The family's conditioning for the prompt options, each defaulting to what ``recorded`` (a latent file's
    metadata) says; None for the empty prompt at guidance 1. A prompt for a model that reads none is one sentence."""
    from latent_studio.core.project import Settings
    from latent_studio.engine.conditioning import project_conditioning

    recorded = recorded or {}
    prompt = args.prompt if args.prompt is not None else recorded.get("prompt", "")
    negative = args.negative_prompt if args.negative_prompt is not None else recorded.get("negative_prompt", "")
    guidance = args.guidance if args.guidance is not None else float(recorded.get("guidance", 1.0))
    return project_conditioning(model, Settings(prompt=prompt, negative_prompt=negative, guidance=guidance))


def conditioning_metadata(conditioning) -> dict[str, str]:
    """What a latent file records of the conditioning it was embedded under (nothing for the default)."""
    if conditioning is None:
        return {}
    return {"prompt": conditioning.prompt, "negative_prompt": conditioning.negative_prompt,
            "guidance": f"{conditioning.guidance:g}"}


def latent_metadata(model, steps: int, source: str) -> dict[str, str]:
    return {
        "model": model.source.spec,
        "model_hash": model.content_hash,
        "steps": str(steps),
        "source": source,
        "app_version": __version__,
    }


def check_output(path: Path, suffix: str, *, inputs=(), force: bool | None = None) -> None:
    """A writable path with the right suffix that is none of ``inputs``; an existing file only with ``force``
    (``force=None``: replacing is allowed, for commands without the option)."""
    from latent_studio.core.atomic import check_not_an_input, check_replaceable, check_writable_destination

    if path.suffix.lower() != suffix:
        raise OutputError(f"{path} should end in {suffix}.")
    check_writable_destination(path)
    check_not_an_input(path, inputs)
    if force is not None:
        check_replaceable(path, force)


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output file (never one of the command's own inputs)")


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


def landmarks_option(text: str, photo: Path):
    """``--align``: none (None), auto (the face found in ``photo``) or manual:X1,Y1,X2,Y2,X3,Y3 (the eyes and the
    mouth, as media.face_align takes)."""
    from latent_studio.media.face_align import open_photo, parse_manual

    if text == "none":
        return None
    if text == "auto":
        from latent_studio.media.face_detect import find_face

        landmarks = find_face(open_photo(photo))
        print(f"found a face in {Path(photo).name}: eyes at ({landmarks.eye_left[0]:.0f}, {landmarks.eye_left[1]:.0f}) "
              f"and ({landmarks.eye_right[0]:.0f}, {landmarks.eye_right[1]:.0f}), mouth at ({landmarks.mouth[0]:.0f}, "
              f"{landmarks.mouth[1]:.0f})")
        return landmarks
    if not text.startswith("manual:"):
        raise UserError(f"--align takes none, auto or manual:X1,Y1,X2,Y2,X3,Y3 (the eyes and the mouth), not '{text}'.")
    return parse_manual(text.removeprefix("manual:"))
