"""Commands on projects: new, inspect, render."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from latent_studio.cli.common import (
    Parents,
    add_force,
    batch_option,
    direction_setting,
    duration_float,
    file_number_int,
    frame_range,
    frame_rate,
    offset_float,
    positive_int,
    scale_float,
    seed_int,
    size_pair,
    steps_int,
)
from latent_studio.core.errors import OutputError, UserError
from latent_studio.core.metrics import describe_psnr
from latent_studio.core.project import FIT_MODES


def register(sub, parents: Parents) -> None:
    common, model = parents.common, parents.model
    new = sub.add_parser("new", parents=[common, model], help="create a project from images and/or seeds")
    new.add_argument("output", type=Path, help="project file to write (.lsproj)")
    new.add_argument("--image", type=Path, action="append", default=[], help="an image to embed (repeatable)")
    new.add_argument("--align", action="append", default=[], metavar="none|auto|manual:X1,Y1,X2,Y2,X3,Y3",
                     help="align the face of the --image at the same place in the list FFHQ-style, from the eyes' and "
                          "the mouth's pixel positions (repeatable; the photo is kept for paste-back)")
    new.add_argument("--paste-back", action="store_true",
                     help="renders composite the face back into the photo of the first aligned face")
    new.add_argument("--seed", type=seed_int, action="append", default=[], help="a random face by seed (repeatable)")
    new.add_argument("--fps", type=frame_rate, default="24", help="23.976, 24, 25, 30, 50 or 60 (default 24)")
    new.add_argument("--duration", type=duration_float, default=4.0, help="length in seconds, at most 3600 (default 4)")
    new.add_argument("--size", type=size_pair, default=(256, 256), help="output size WxH (default 256x256)")
    new.add_argument("--steps", type=steps_int, default=50, help="DDIM steps for embedding and final renders (default 50)")
    new.add_argument("--prompt", default="", help="what a text-conditioned model (Stable Diffusion) reads with every frame")
    new.add_argument("--negative-prompt", default="", help="what guidance steers away from (with --guidance above 1)")
    new.add_argument("--guidance", type=float, default=1.0,
                     help="classifier-free guidance scale, 1 to 30 (default 1: exact embedding; above 1 edits decode plainly)")
    add_force(new)
    new.set_defaults(run=cmd_new)

    inspect = sub.add_parser("inspect", parents=[common], help="show what a project holds")
    inspect.add_argument("project", type=Path)
    inspect.set_defaults(run=cmd_inspect)

    latent_map = sub.add_parser("map", parents=[common, model], help="draw a 2-D map of a project's faces among sampled ones")
    latent_map.add_argument("project", type=Path)
    latent_map.add_argument("-o", "--output", type=Path, required=True, help="the map picture (.png)")
    latent_map.add_argument("--samples", type=int, default=200, help="sampled faces around the project's (default 200)")
    latent_map.add_argument("--method", choices=["pca", "umap"], default="pca", help="the 2-D projection (umap needs umap-learn)")
    latent_map.add_argument("--space", choices=["pictures", "bottleneck"], default="pictures",
                            help="what distances mean: the pictures reduced to 32x32 (default) or the UNet bottleneck")
    latent_map.add_argument("--steps", type=steps_int, default=None,
                            help="DDIM steps of the thumbnails (default: one pass of the draft decoder, or the "
                                 "project's preview steps)")
    add_force(latent_map)
    latent_map.set_defaults(run=cmd_map)

    update = sub.add_parser("update-directions", parents=[common, model],
                            help="copy a project with the model's current directions on its sliders")
    update.add_argument("project", type=Path)
    update.add_argument("-o", "--output", type=Path, required=True,
                        help="the updated copy (.lsproj); the project itself is never changed")
    add_force(update)
    update.set_defaults(run=cmd_update_directions)

    render = sub.add_parser("render", parents=[common, model], help="render a project to a video or PNG sequence")
    render.add_argument("project", type=Path)
    render.add_argument("-o", "--output", type=Path, required=True,
                        help="video file (.mp4 .mov .webm .gif) or a new folder for a PNG sequence")
    render.add_argument("--format", help="mp4, mp4-h265, prores, prores4444, webm, gif, png, png16 (default: from the name)")
    render.add_argument("--fps", type=frame_rate, help="override the project's frame rate")
    render.add_argument("--range", dest="frame_range", type=frame_range, help="frames A-B (inclusive, from 0; default all)")
    render.add_argument("--scale", type=scale_float, help="output size as a multiple of the model's resolution (default: project size)")
    render.add_argument("--size", type=size_pair, help="exact output size WxH, e.g. 1920x1080 (instead of --scale)")
    render.add_argument("--fit", choices=FIT_MODES, default="fit",
                        help="a frame of another shape in --size: fit (bars), fill (crop), pad (unscaled), stretch")
    render.add_argument("--steps", type=steps_int, help="DDIM steps (default: the project's final steps)")
    render.add_argument("--paste-back", action=argparse.BooleanOptionalAction, default=None,
                        help="composite each frame back into the photo its face was aligned from, at the photo's size "
                             "(default: the project's setting)")
    render.add_argument("--audio", type=Path, help="a song or voice to mux in (WAV, MP3, FLAC, AAC, Ogg), cut to the "
                                                   "range; instead of the project's own (the file is not changed)")
    render.add_argument("--audio-offset", type=offset_float, metavar="SECONDS",
                        help="where on the timeline the audio's start plays (negative: skip its first seconds)")
    render.add_argument("--no-audio", action="store_true", help="leave the project's audio out")
    render.add_argument("--draft", action="store_true",
                        help="a playblast: every frame as the app's canvas drafts it (one pass of the model's draft "
                             "decoder, or the project's preview steps when the model has none)")
    render.add_argument("--quality", choices=("high", "standard", "small"), default="standard", help="video quality preset")
    render.add_argument("--first-number", type=file_number_int, default=0, help="number of the first PNG file (default 0)")
    render.add_argument("--batch", type=batch_option, default="auto",
                        help="frames decoded together, 1 to 256, or auto: as many as half the free memory holds, "
                             "at most 64 on CUDA and on a CPU at most 16 within 2 GiB (default auto; 8 with --cluster)")
    render.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                        help="torch.compile the denoiser (CUDA graphs on CUDA): auto = on CUDA once the render has spent 30 s "
                             "decoding (default; on a CPU it gave no reliable gain), on, off; compiling fails over to "
                             "plain decoding with a warning")
    render.add_argument("--cluster", metavar="ray|auto|ray://HOST:PORT",
                        help="render on a Ray cluster (the cluster extra): ray = the cluster this machine runs "
                             "(ray start --head) or else a local one for this render, auto = an existing one only, "
                             "ray://HOST:10001 = through Ray Client; every node needs this version of latent-studio")
    render.add_argument("--chunk", type=positive_int, help="with --cluster: frames per task, a multiple of --batch "
                                                           "(default: --batch)")
    render.add_argument("--workers", type=positive_int, help="with --cluster: workers, each loading the model once "
                                                             "(default: one per GPU, else one per --worker-threads CPUs)")
    render.add_argument("--worker-threads", type=positive_int,
                        help="with --cluster: torch threads of a CPU worker (default: this machine's, which gives "
                             "its bytes; fewer may land frames a grey level away)")
    render.add_argument("--set", dest="settings", type=direction_setting, action="append", default=[],
                        metavar="NAME=VALUE", help='hold a direction at a constant strength, e.g. --set "Head turn=30" '
                                                   "(repeatable; the project file is not changed)")
    render.add_argument("--force", action="store_true",
                        help="replace an existing file that is not an earlier render of this tool (never the project itself)")
    render.set_defaults(run=cmd_render)


def cmd_new(args: argparse.Namespace) -> int:
    from latent_studio.app.export import plate_asset
    from latent_studio.app.projects import empty_project, image_asset, place_anchors, seed_asset
    from latent_studio.cli.common import landmarks_option, load
    from latent_studio.core.atomic import check_not_an_input, check_replaceable, check_writable_destination
    from latent_studio.core.project import Settings
    from latent_studio.core.project_file import SUFFIX, save_project
    from latent_studio.engine.conditioning import project_conditioning

    if args.output.suffix != SUFFIX:
        raise OutputError(f"{args.output} should end in {SUFFIX}.")
    check_writable_destination(args.output)
    check_not_an_input(args.output, args.image)
    check_replaceable(args.output, args.force)
    if not args.image and not args.seed:
        raise UserError("Give at least one --image or --seed for the project's first face.")
    if len(args.align) > len(args.image):
        raise UserError(f"{len(args.align)} --align for {len(args.image)} --image; give one --align per image, in "
                        "the same order (none for an image to centre-crop).")
    alignments = [landmarks_option(text, path) for text, path in zip(args.align, args.image)]
    alignments += [None] * (len(args.image) - len(args.align))
    width, height = args.size
    settings = Settings(fps=args.fps, duration=args.duration, width=width, height=height, final_steps=args.steps,
                        prompt=args.prompt, negative_prompt=args.negative_prompt, guidance=args.guidance,
                        paste_back=args.paste_back)
    model = load(args)
    project_conditioning(model, settings)  # a prompt for a model that reads none: say so before any work
    project = empty_project(model, settings)
    order = []
    for path, landmarks in zip(args.image, alignments, strict=True):
        asset = image_asset(model, path, args.steps, settings=settings, landmarks=landmarks)
        print(f"embedded {path.name}: PSNR {describe_psnr(asset.psnr, 2)}")
        if "out_of_domain" in asset.metadata:
            print(asset.metadata["out_of_domain"])
        project.assets[asset.id] = asset
        order.append(asset.id)
    for seed in args.seed:
        asset = seed_asset(model, seed, settings=settings)
        project.assets[asset.id] = asset
        order.append(asset.id)
    place_anchors(project, order)
    if args.paste_back and plate_asset(project) is None:
        raise UserError("--paste-back needs an --image with --align manual:... (the photo it pastes back into); "
                        "nothing was written.")
    save_project(project, args.output)
    print(f"wrote {args.output}: {len(order)} faces, {len(project.directions)} directions, "
          f"{settings.duration:g} s at {settings.fps} fps")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from latent_studio.core.project_file import load_project

    project = load_project(args.project)
    s = project.settings
    print(f"project {args.project}")
    print(f"  model {project.model.spec} (content hash {project.model.content_hash[:12]})")
    print(f"  {s.duration:g} s at {s.fps} fps = {s.frame_count} frames, output {s.width}x{s.height} ({s.upscale}), "
          f"preview {s.preview_steps} / final {s.final_steps} steps")
    if s.conditioned:
        print(f"  prompt {s.prompt!r}, negative prompt {s.negative_prompt!r}, guidance {s.guidance:g}")
    if s.audio_path:
        missing = "" if Path(s.audio_path).is_file() else " (missing)"
        print(f"  audio {s.audio_path}{missing}, its start at {s.audio_offset:g} s on the timeline")
    if s.paste_back:
        print("  renders paste the face back into its photo")
    print(f"  assets ({len(project.assets)}):")
    for asset in project.assets.values():
        quality = f", PSNR {describe_psnr(asset.psnr, 2)}" if asset.psnr is not None else ""
        print(f"    {asset.id}  {asset.kind:<6} {asset.name} ({asset.source}{quality})")
    print(f"  directions ({len(project.directions)}):")
    for d in project.directions.values():
        track = project.strengths.get(d.id)
        keys = len(track.keyframes) if track else 0
        base = f", base {track.base:g}" if track and not track.keyframes and track.base else ""
        print(f"    {d.id}  {d.name} [{d.strength_range[0]:g}..{d.strength_range[1]:g} {d.unit}] {d.origin}, {keys} keyframes{base}")
    print(f"  anchor track ({len(project.anchors)} keyframes):")
    for key in project.anchors:
        print(f"    {key.time:8.3f} s  {project.assets[key.value].name}  ({key.interpolation.value})")
    return 0


def cmd_update_directions(args: argparse.Namespace) -> int:
    from latent_studio.app.projects import model_mismatch, outdated_model_directions
    from latent_studio.cli.common import check_output, load
    from latent_studio.core.edits import ReplaceDirections
    from latent_studio.core.project_file import load_project, save_project

    check_output(args.output, ".lsproj", inputs=[args.project], force=args.force)
    project = load_project(args.project)
    if args.model is None:
        args.model = project.model.spec
    model = load(args)
    mismatch = model_mismatch(project, model, args.project.name)
    if mismatch:
        raise UserError(f"{mismatch} Its directions cannot be updated from this model; --model chooses the one it was made with.")
    newer = outdated_model_directions(project, model)
    if not newer:  # still written: a script's next step reads -o's file
        save_project(project, args.output)
        print(f"{args.project.name}'s directions are already the ones {model.source.spec} ships; wrote an unchanged "
              f"copy to {args.output}")
        return 0
    ReplaceDirections(newer).apply(project)
    save_project(project, args.output)
    print(f"wrote {args.output} with the model's current {', '.join(d.name for d in newer)} "
          f"(keyframes unchanged; {args.project.name} is untouched)")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from latent_studio.app.latent_map import build_map, draw_map
    from latent_studio.cli.common import check_output, load, progress_bar
    from latent_studio.core.atomic import atomic_write_bytes
    from latent_studio.core.project_file import load_project

    if not 0 <= args.samples <= 5000:
        raise UserError(f"--samples must be between 0 and 5000, not {args.samples}.")
    check_output(args.output, ".png", inputs=[args.project], force=args.force)
    project = load_project(args.project)
    if args.model is None:
        args.model = project.model.spec
    model = load(args)
    latent_map = build_map(model, project, args.samples, method=args.method, space=args.space, steps=args.steps,
                           progress=progress_bar("map"))
    buffer = io.BytesIO()
    draw_map(latent_map).save(buffer, "PNG")
    atomic_write_bytes(args.output, buffer.getvalue())
    print(f"wrote {args.output} ({len(project.assets)} project faces among {args.samples} sampled, {args.method}, "
          f"{args.space})")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from latent_studio.app.export import ExportOptions, check_destination, export_project
    from latent_studio.app.projects import (embedding_steps_note, hold_strengths, model_mismatch,
                                            outdated_model_directions)
    from latent_studio.cli.common import load
    from latent_studio.core.latent_math import latent_warning
    from latent_studio.core.project_file import load_project
    from latent_studio.engine.batch_size import auto_batch
    from latent_studio.engine.compilation import set_compile
    from latent_studio.engine.decode import DEFAULT_BATCH
    from latent_studio.media.export import export_format, guess_format

    project = load_project(args.project)
    if args.settings:
        project = hold_strengths(project, args.settings)
    if args.audio is not None or args.audio_offset is not None:
        audio = str(args.audio.expanduser().resolve()) if args.audio is not None else project.settings.audio_path
        offset = project.settings.audio_offset if args.audio_offset is None else args.audio_offset
        project.settings = replace(project.settings, audio_path=audio, audio_offset=offset)
    for asset in project.assets.values():
        warning = latent_warning(asset.latent, f"asset {asset.name}")
        if warning:
            print(f"latent-studio: warning: {warning}", file=sys.stderr)
    fmt = export_format(args.format or guess_format(args.output))
    first, last = args.frame_range or (0, None)
    if args.size and args.scale:
        raise UserError("Give --size or --scale, not both: --size is the exact output, --scale a multiple of the model's.")
    if args.draft and args.steps:
        raise UserError("Give --draft or --steps, not both: --draft renders the canvas's drafts, --steps the final frames "
                        "at that many steps.")
    if args.batch == "auto" and args.cluster is not None:
        args.batch = DEFAULT_BATCH  # the workers' memory is not this machine's; the batch must match theirs
    options = ExportOptions(fmt, fps=args.fps, first_frame=first, last_frame=last, scale=args.scale, size=args.size,
                            fit=args.fit, steps=args.steps, draft=args.draft, paste_back=args.paste_back, audio=not args.no_audio, quality=args.quality, first_number=args.first_number,
                            batch_size=DEFAULT_BATCH if args.batch == "auto" else args.batch, replace=args.force)
    check_destination(args.output, fmt, replace=args.force, inputs=[args.project])  # before the model loads
    source = _frame_source(args)
    if args.model is None:
        args.model = project.model.spec
    model = load(args)
    mismatch = model_mismatch(project, model, args.project.name)
    if mismatch:
        print(f"latent-studio: warning: {mismatch} Rendering anyway; --model chooses another.", file=sys.stderr)
    elif newer := outdated_model_directions(project, model):
        print(f"latent-studio: note: {args.project.name} has older copies of the model's "
              f"{', '.join(d.name for d in newer)} than the model now ships, and renders with them as saved; "
              "latent-studio update-directions writes a copy with the current ones.", file=sys.stderr)
    if not args.draft and (note := embedding_steps_note(project, args.steps or project.settings.final_steps)):
        print(f"latent-studio: warning: {note}", file=sys.stderr)
    if args.batch == "auto":
        options = replace(options, batch_size=auto_batch(model))
    set_compile(model, args.compile)
    result = export_project(project, model, args.output, options, progress=_render_progress(), **source)
    print(f"wrote {result.path} ({result.frames} frames, {result.size[0]}x{result.size[1]}, {fmt.label}) "
          f"in {result.seconds:.1f} s; frame list {result.sidecar}")
    return 0


def _frame_source(args: argparse.Namespace) -> dict:
    """``export_project``'s frame source for ``--cluster`` (checked before the model loads), else the local one."""
    if args.cluster is None:
        if args.chunk or args.workers or args.worker_threads:
            raise UserError("--chunk, --workers and --worker-threads only apply with --cluster; add --cluster ray or "
                            "leave them out.")
        return {}
    from latent_studio.app.cluster_render import RayFrames, check_chunk, ray_address, require_ray

    address = ray_address(args.cluster)
    check_chunk(args.chunk, args.batch)
    require_ray()
    return {"source": RayFrames(address, chunk=args.chunk, workers=args.workers, device=args.device, dtype=args.dtype,
                                allow_pickle=args.allow_pickle, threads=args.worker_threads)}


def _render_progress():
    """Frames done, rate and ETA: a live line on a terminal, a line every 10% otherwise."""
    from latent_studio.app.remaining import RemainingTime

    remaining = RemainingTime()  # paced from the first frames on: loading and warming up are not the render's pace
    interactive = sys.stderr.isatty()
    shown = {"tenth": -1}

    def show(p) -> None:
        eta = remaining.update(p.done, p.total)
        pace = "estimating time left" if eta is None else f"{remaining.rate:.2f} frames/s, ETA {eta:5.1f} s"
        line = f"render {p.done}/{p.total} frames, {pace}"
        if interactive:
            sys.stderr.write("\r" + line + ("\n" if p.done >= p.total else ""))
            sys.stderr.flush()
        elif p.done * 10 // p.total > shown["tenth"]:
            shown["tenth"] = p.done * 10 // p.total
            print(line, file=sys.stderr, flush=True)

    return show
