"""Commands that build the bundled demo: train-demo, train-regressor, fit-demo-directions, evaluate-demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from latent_studio.cli.common import Parents, channel_list, check_output, level_list, load, non_negative_int, positive_int
from latent_studio.core.errors import UserError


def register(sub, parents: Parents) -> None:
    common = parents.common
    train = sub.add_parser("train-demo", parents=[common], help="train the bundled toy-heads demo model (resumable)")
    train.add_argument("--work", type=Path, default=Path("train-demo-work"), help="checkpoint folder (default ./train-demo-work)")
    train.add_argument("--out", type=Path, help="model folder to export to (default resources/models/toy-heads)")
    train.add_argument("--recipe", choices=("auto", "gpu", "cpu"), default="auto",
                       help="gpu: 6.3 M-parameter UNet on fresh renders; cpu: 2.7 M parameters on a fixed pool "
                            "(default auto: gpu when CUDA is available)")
    train.add_argument("--steps", type=positive_int, help="total training steps (default from the recipe)")
    train.add_argument("--batch", type=positive_int, help="batch size (default from the recipe)")
    train.add_argument("--stop-after", type=positive_int, help="stop after this many steps of this run (resume later)")
    train.add_argument("--time-limit", type=positive_int, metavar="SECONDS",
                       help="stop this run after about this many seconds, with a checkpoint (resume later)")
    train.add_argument("--pool-batches", type=non_negative_int,
                       help="batches rendered once and cycled (0: fresh renders every step, for machines with many cores; "
                            "default from the recipe)")
    train.add_argument("--device", help="cuda, cpu, ... (default: CUDA when available)")
    train.add_argument("--workers", type=non_negative_int, default=None, help="render processes (default: cores - 1)")
    train.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in --work")
    train.add_argument("--prediction-type", choices=("v_prediction", "epsilon", "sample"),
                       help="what the UNet predicts (default from the recipe: v_prediction)")
    train.add_argument("--clip-sample", action="store_true",
                       help="clamp the predicted clean image when sampling (needed by epsilon models; breaks exact inversion)")
    train.add_argument("--init-from", type=Path, metavar="MODEL_FOLDER",
                       help="start a fresh run from this model's weights (same architecture), e.g. to fine-tune to another prediction type")
    train.add_argument("--channels", type=channel_list,
                       help="the UNet's widths per level, e.g. 32,32,64,128 (default from the recipe; a new architecture "
                            "starts from random weights)")
    train.add_argument("--layers-per-block", type=positive_int, help="resnet layers per level (default from the recipe)")
    train.add_argument("--attention-levels", type=level_list, metavar="LEVELS",
                       help="levels with self-attention, 0 at full resolution, e.g. 2,3 (default from the recipe)")
    train.add_argument("--export", action="store_true", help="export the EMA model even if the run stops early")
    train.set_defaults(run=cmd_train_demo)

    regressor = sub.add_parser("train-regressor", parents=[common], help="train the toy-head factor regressor used by the evaluation")
    regressor.add_argument("--out", type=Path, help="file to write (default resources/demo/factor_regressor.safetensors)")
    regressor.add_argument("--steps", type=positive_int, help="training steps (default from the recipe)")
    regressor.set_defaults(run=cmd_train_regressor)

    fit = sub.add_parser("fit-demo-directions", parents=[common, parents.model, parents.steps],
                         help="embed stratified renders and fit the demo model's directions (yaw, smile, glasses, hair hue)")
    fit.add_argument("--scale", type=float, default=1.0, help="fraction of the default number of identities (default 1)")
    fit.add_argument("--out", type=Path, help="folder to write to (default: the model's directions/ folder)")
    fit.add_argument("--only", metavar="NAMES",
                     help='comma-separated directions to fit again (e.g. "Head turn"); the others are kept as they are')
    fit.add_argument("--no-calibration", action="store_true",
                     help="keep the fitted scale (by default the factor regressor rescales each direction to its units)")
    fit.set_defaults(run=cmd_fit_demo_directions)

    evaluate = sub.add_parser("evaluate-demo", parents=[common, parents.model],
                              help="measure samples, embedding and directions of the demo model with the factor regressor")
    evaluate.add_argument("--reduced", action="store_true", help="a quick run on a handful of images (for tests)")
    evaluate.add_argument("--figures", type=Path, help="write samples.png and head_turn.png into this folder (e.g. docs)")
    evaluate.add_argument("--update-card", action="store_true", help="write the figures into the model's README.md")
    evaluate.set_defaults(run=cmd_evaluate_demo)

    examples = sub.add_parser("make-demo-examples", parents=[common, parents.model],
                              help="write the example projects (head turn, morph) for the demo model")
    examples.add_argument("--out", type=Path, help="folder (default resources/examples)")
    examples.set_defaults(run=cmd_make_demo_examples)


def cmd_train_demo(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from latent_studio.core.resources import resources_dir
    from latent_studio.demo.training import RECIPES, device_description, export_model, train

    name = args.recipe
    if name == "auto":
        name = "gpu" if (args.device or "").startswith("cuda") or (args.device is None and _cuda_available()) else "cpu"
    recipe = RECIPES[name]
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch),
                                   ("prediction_type", args.prediction_type)) if v}
    if args.pool_batches is not None:
        overrides["pool_batches"] = args.pool_batches
    if args.clip_sample:
        overrides["clip_sample"] = True
    overrides.update(architecture_overrides(recipe, args))
    recipe = dataclasses.replace(recipe, **overrides)
    out = args.out or (resources_dir() or Path("resources")) / "models" / "toy-heads"
    workers = args.workers if args.workers is not None else max(0, (os.cpu_count() or 1) - 1)
    hardware = device_description(args.device)
    print(f"training toy-heads ({name} recipe): {recipe.steps} steps of batch {recipe.batch_size} on {hardware}; "
          f"checkpoints in {args.work}", flush=True)
    ema, state = train(recipe, args.work, device=args.device, workers=workers, resume=not args.no_resume,
                       init_from=args.init_from, stop_after=args.stop_after, time_limit=args.time_limit,
                       progress=_training_progress())
    if state.step >= recipe.steps or args.export:
        export_model(ema, recipe, state, out, hardware)
        print(f"exported step {state.step} to {out}")
    else:
        print(f"stopped at step {state.step} of {recipe.steps}; run again with the same options to resume "
              "(or add --export)")
    return 0


def cmd_train_regressor(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from latent_studio.core.resources import resources_dir
    from latent_studio.demo.regressor import RegressorRecipe, held_out_report, save_regressor, train_regressor

    out = args.out or (resources_dir() or Path("resources")) / "demo" / "factor_regressor.safetensors"
    check_output(out, ".safetensors")
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


def cmd_fit_demo_directions(args: argparse.Namespace) -> int:
    from latent_studio.demo.direction_fitting import DIRECTION_NAMES, fit_demo_directions, save_directions
    from latent_studio.demo.regressor import load_regressor
    from latent_studio.engine.decode import DEFAULT_STEPS
    from latent_studio.engine.directions import model_directions

    model = load(args)
    regressor = None if args.no_calibration else load_regressor(_regressor_path())
    out = args.out or model.source.home / "directions"
    steps = args.steps or DEFAULT_STEPS
    if model.source.kind == "hub" and args.out is None:
        raise UserError("The model comes from the Hugging Face cache; pass --out to say where the directions go.")
    last = {"name": ""}

    def show(name: str, done: int, total: int) -> None:
        if name != last["name"] or done == total:
            print(f"{name}: {done}/{total}", file=sys.stderr, flush=True)
            last["name"] = name

    names = list(DIRECTION_NAMES.values())
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    kept = {}
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown or not only:
            raise UserError(f"--only takes names among {', '.join(names)}; not {', '.join(unknown) or 'nothing'}.")
        kept = {d.name: d for d in model_directions(model)}
        missing = [n for n in names if n not in only and n not in kept]
        if missing:
            raise UserError(f"The model has no {', '.join(missing)} direction to keep; fit it too (or leave out --only).")
    fitted = fit_demo_directions(model, steps, scale=args.scale, regressor=regressor, only=only,
                                 present=kept, progress=show)
    refitted = {d.name: d for d in fitted}
    directions = [refitted.get(name) or kept[name] for name in names]
    # a kept direction is written only to another folder (the model's own file stays byte for byte)
    keep_files = only is not None and Path(out).resolve() == (model.source.home / "directions").resolve()
    for index, direction in enumerate(directions, start=1):
        if keep_files and direction.name not in refitted:
            continue
        path = save_directions(out, [direction], start=index)[0]
        quality = f"R2 {direction.info['r2']}" if "r2" in direction.info else direction.method
        if "calibration" in direction.info:
            quality += f", calibrated {direction.info['calibration']}"
        if direction.split is not None:
            quality += f", split by {direction.split.condition}"
            if direction.split.keep is not None:
                quality += " and keeps it along the edit"
        if direction.bends():
            quality += ", bent"
        if direction.hold is not None:
            quality += f", holds {direction.hold.condition} with {direction.hold.lender}'s keep"
        if direction.restore is not None:
            quality += f", restores {direction.restore.factor}"
        print(f"wrote {path} ({direction.name}: {quality}, strength {direction.strength_range[0]:g}..{direction.strength_range[1]:g} {direction.unit})")
    for kept_direction in directions:  # a kept direction's hold is a copy of its lender's keep as it was
        hold = kept_direction.hold
        if kept_direction.name not in refitted and hold is not None and hold.lender in refitted:
            print(f"{kept_direction.name} still holds {hold.condition} with the previous {hold.lender}'s keep; "
                  f'fit them together (--only "{",".join([*refitted, kept_direction.name])}") to hold it with the new one.')
    return 0


def cmd_evaluate_demo(args: argparse.Namespace) -> int:
    from latent_studio.demo.evaluation import FULL, REDUCED, evaluate, format_report, update_model_card, write_figures
    from latent_studio.demo.regressor import load_regressor
    from latent_studio.engine.directions import model_directions

    model = load(args)
    regressor = load_regressor(_regressor_path())
    directions = model_directions(model)
    if not directions:
        raise UserError(f"Model '{model.source.spec}' has no directions; run `latent-studio fit-demo-directions` first.")
    sizes = REDUCED if args.reduced else FULL
    report = evaluate(model, regressor, directions, sizes, log=lambda line: print(line, file=sys.stderr, flush=True))
    text = format_report(report, hardware=_hardware(model))
    print(text)
    if args.figures:
        for path in write_figures(model, directions, args.figures, steps=sizes.steps):
            print(f"wrote {path}")
    if args.update_card:
        print(f"updated {update_model_card(model.source.home, text)}")
    return 0


def cmd_make_demo_examples(args: argparse.Namespace) -> int:
    from latent_studio.core.resources import resources_dir
    from latent_studio.demo.examples import write_examples

    model = load(args)
    out = args.out or (resources_dir() or Path("resources")) / "examples"
    for path in write_examples(model, out):
        print(f"wrote {path}")
    return 0


def _hardware(model) -> str:
    import platform

    import torch

    if model.placement.device.type == "cpu":
        return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    return model.placement.describe()


def _regressor_path() -> Path:
    from latent_studio.core.resources import resources_dir

    root = resources_dir()
    path = root / "demo" / "factor_regressor.safetensors" if root else None
    if path is None or not path.is_file():
        raise UserError("The factor regressor (resources/demo/factor_regressor.safetensors) is missing; "
                        "run `latent-studio train-regressor`.")
    return path


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _step_logger():
    def log(step: int, total: int, loss: float) -> None:
        if step % 500 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.5f}", file=sys.stderr, flush=True)

    return log


def architecture_overrides(recipe, args: argparse.Namespace) -> dict:
    """--channels, --layers-per-block and --attention-levels as recipe fields; the norm groups shrink to divide
    every width (32 groups cannot split 24 channels)."""
    import math

    overrides = {k: v for k, v in (("block_out_channels", args.channels), ("layers_per_block", args.layers_per_block),
                                   ("attention_levels", args.attention_levels)) if v}
    channels = overrides.get("block_out_channels", recipe.block_out_channels)
    levels = overrides.get("attention_levels", recipe.attention_levels)
    if max(levels) >= len(channels):
        raise UserError(f"--attention-levels {','.join(map(str, levels))} names a level the UNet does not have "
                        f"(it has {len(channels)}: 0 to {len(channels) - 1}).")
    if "block_out_channels" in overrides:
        overrides["norm_num_groups"] = math.gcd(recipe.norm_num_groups, *channels)
    return overrides


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


