"""Commands on one model: info, sample, embed, decode, train-embedder."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from latent_studio import __version__
from latent_studio.cli.common import (
    Parents,
    add_force,
    add_prompt_options,
    bounded_float,
    bounded_int,
    channel_list,
    check_output,
    conditioning_metadata,
    iterations_int,
    landmarks_option,
    latent_metadata,
    load,
    numbered,
    parse_colour,
    print_model,
    progress_bar,
    prompt_conditioning,
    seed_int,
)
from latent_studio.core.errors import UserError
from latent_studio.core.metrics import describe_psnr


def register(sub, parents: Parents) -> None:
    common, model, steps = parents.common, parents.model, parents.steps
    info = sub.add_parser("info", parents=[common, model], help="versions, device and model details")
    info.set_defaults(run=cmd_info)

    sample = sub.add_parser("sample", parents=[common, model, steps], help="decode the noise of a seed to a PNG")
    sample.add_argument("--seed", type=seed_int, required=True)
    sample.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    sample.add_argument("--save-latent", type=Path, help="also write the seed's latent (.safetensors)")
    add_force(sample)
    sample.set_defaults(run=cmd_sample)

    embed = sub.add_parser("embed", parents=[common, model, steps], help="find the latent of an image (prints PSNR)")
    embed.add_argument("image", type=Path)
    embed.add_argument("-o", "--output", type=Path, required=True, help="latent file to write (.safetensors)")
    embed.add_argument("--mode", choices=("auto", "inversion", "network"), default="auto",
                       help="network: one pass of the model's embedding network (train-embedder makes one); "
                            "inversion: fixed-point DDIM inversion (default auto: inversion)")
    embed.add_argument("--fixed-point", type=iterations_int, default=None, help="fixed-point iterations per step (default 3)")
    embed.add_argument("--clamp-matching", type=iterations_int, default=None,
                       help="Adam iterations per clamped step, for schedulers that clip (default 20; 0 turns it off)")
    embed.add_argument("--refine", type=iterations_int, default=0, help="gradient refinement iterations (default 0)")
    embed.add_argument("--fit", choices=["crop", "pad"], default="crop", help="centre crop or pad to the model's shape")
    embed.add_argument("--align", default="none", metavar="none|auto|manual:X1,Y1,X2,Y2,X3,Y3",
                       help="align a face as FFHQ / CelebA-HQ faces were (for face models): auto finds the eyes and the "
                            "mouth (needs ai-edge-litert); manual: takes the photo's pixel positions of the left eye, "
                            "the right eye and the centre of the mouth; none (default) centre-crops as --fit says")
    embed.add_argument("--background", default="#ffffff", help="colour under transparent pixels and padding")
    add_prompt_options(embed, "while the image is inverted (decode uses it again)")
    embed.add_argument("--reconstruction", type=Path, help="also write the reconstruction (PNG)")
    add_force(embed)
    embed.set_defaults(run=cmd_embed)

    trainer = sub.add_parser("train-embedder", parents=[common, model, steps],
                             help="train the model's one-pass embedding network on pairs it makes (saved in MODEL/embedder)")
    trainer.add_argument("--pairs", type=bounded_int(64, 1_000_000), help="sampled (image, latent) pairs (default 4096)")
    trainer.add_argument("--training-steps", type=bounded_int(1, 1_000_000), help="optimiser steps (default 3000)")
    trainer.add_argument("--time-limit", type=bounded_int(1, 10**7), metavar="SECONDS",
                         help="train for at most this long; the schedule fits whichever ends first (pairs not counted)")
    trainer.add_argument("--batch", type=bounded_int(2, 4096), help="training batch (default 32)")
    trainer.add_argument("--channels", type=channel_list, help="the network's widths per level (default 16,32,64,128)")
    trainer.add_argument("--renders", type=bounded_int(0, 1_000_000), default=0,
                         help="also train on this many toy-head renders with their inversions (for the demo model)")
    trainer.add_argument("--pairs-cache", type=Path, metavar="FILE.npz",
                         help="keep the pairs here and reuse them on the next run with the same model and steps")
    trainer.add_argument("--workers", type=bounded_int(0, 256), help="render processes for --renders (default: cores - 1)")
    trainer.add_argument("--init-from", type=Path, metavar="MODEL_FOLDER",
                         help="start from the embedder/ of this model folder (e.g. the model before a fine-tune) "
                              "instead of from scratch")
    trainer.add_argument("--learning-rate", type=bounded_float(0, 1, low_open=True), metavar="LR",
                         help="peak learning rate of the cosine schedule (default 5e-4; lower, e.g. 1e-4, to fine-tune "
                              "with --init-from)")
    trainer.add_argument("--picture-weight", type=bounded_float(0, 1000), metavar="W",
                         help="weight of the picture loss: how far the model's draft decoder, given the predicted "
                              "latent, lands from the image (default 10; 0 trains on the latent error alone; a model "
                              "without a draft decoder trains on the latent error alone)")
    trainer.add_argument("--picture-renders", type=bounded_int(0, 1_000_000), default=0, metavar="N",
                         help="let the picture loss judge this many other toy-head renders, which need no inversion, "
                              "instead of the pairs' images (for the demo model)")
    add_force(trainer)
    trainer.set_defaults(run=cmd_train_embedder)

    drafter = sub.add_parser("train-draft", parents=[common, model, steps],
                             help="train the model's one-pass draft decoder on pairs it makes (saved in MODEL/draft): "
                                  "the app's drafts while dragging and playing")
    drafter.add_argument("--pairs", type=bounded_int(64, 1_000_000), help="sampled (latent, picture) pairs (default 4096)")
    drafter.add_argument("--training-steps", type=bounded_int(1, 1_000_000), help="optimiser steps (default 3000)")
    drafter.add_argument("--time-limit", type=bounded_int(1, 10**7), metavar="SECONDS",
                         help="train for at most this long; the schedule fits whichever ends first (pairs not counted)")
    drafter.add_argument("--batch", type=bounded_int(2, 4096), help="training batch (default 64)")
    drafter.add_argument("--pairs-cache", type=Path, metavar="FILE.npz",
                         help="keep the pairs here and reuse them on the next run with the same model and steps")
    drafter.add_argument("--init-from", type=Path, metavar="MODEL_FOLDER",
                         help="start from the draft/ of this model folder (e.g. the model before a fine-tune) "
                              "instead of from scratch")
    add_force(drafter)
    drafter.set_defaults(run=cmd_train_draft)

    discover = sub.add_parser("discover", parents=[common, model],
                              help="find the model's main directions without labels: a gallery of strips (PNG), "
                                   "and with --save the direction files")
    discover.add_argument("-o", "--output", type=Path, required=True, help="the gallery to write (PNG)")
    discover.add_argument("--count", type=bounded_int(1, 32), default=6, help="how many directions (default 6)")
    discover.add_argument("--samples", type=bounded_int(16, 100_000), default=1024,
                          help="sampled faces they are found on (default 1024)")
    discover.add_argument("--seed", type=seed_int, default=0, help="the face each strip moves (default 0)")
    discover.add_argument("--save", type=Path, metavar="FOLDER",
                          help="also write each direction as FOLDER/component_K.safetensors")
    add_force(discover)
    discover.set_defaults(run=cmd_discover)

    decode = sub.add_parser("decode", parents=[common, model, steps], help="decode a latent file to a PNG")
    decode.add_argument("latent", type=Path)
    decode.add_argument("-o", "--output", type=Path, required=True, help="PNG to write (numbered if the file holds several)")
    add_prompt_options(decode, "(default: what the latent file was embedded under)")
    add_force(decode)
    decode.set_defaults(run=cmd_decode)



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
        model = load(args)
        print_model(model)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import save_latent
    from latent_studio.core.seeds import noise_latent
    from latent_studio.engine.decode import DEFAULT_STEPS, decode
    from latent_studio.media.images import save_png

    check_output(args.output, ".png", force=args.force)
    if args.save_latent:
        check_output(args.save_latent, ".safetensors", inputs=[args.output], force=args.force)
    model = load(args)
    steps = args.steps or DEFAULT_STEPS
    latent = noise_latent(args.seed, model.latent_shape)
    image = decode(model, latent, steps, progress=progress_bar("sample"))[0]
    save_png(args.output, image)
    if args.save_latent:
        save_latent(args.save_latent, latent, latent_metadata(model, steps, source=f"seed {args.seed}"))
    print(f"wrote {args.output} (seed {args.seed}, {steps} steps)")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import save_latent
    from latent_studio.core.metrics import out_of_domain_sentence
    from latent_studio.engine.conditioning import conditioned_model, guided
    from latent_studio.engine.decode import DEFAULT_STEPS
    from latent_studio.engine.embedding import embed
    from latent_studio.engine.inversion import DEFAULT_CLAMP_ITERATIONS
    from latent_studio.media.images import save_png

    check_output(args.output, ".safetensors", inputs=[args.image], force=args.force)
    if args.reconstruction:
        check_output(args.reconstruction, ".png", inputs=[args.image, args.output], force=args.force)
    background = parse_colour(args.background)
    model = load(args)
    height, width = model.image_size
    if height != width:
        raise UserError(f"Model '{model.source.spec}' makes {width}x{height} images; embedding needs a square model for now.")
    pixels, preparation = _embed_input(args, height, background)
    steps = args.steps or DEFAULT_STEPS
    clamp = DEFAULT_CLAMP_ITERATIONS if args.clamp_matching is None else args.clamp_matching
    conditioning = prompt_conditioning(model, args)
    if guided(conditioning):
        print(f"Guidance {conditioning.guidance:g}: DDIM inversion is exact only at guidance 1, so the image is "
              "inverted by fixed-point iterations of the guided step; the PSNR below says how closely it comes back.")
    result = embed(
        conditioned_model(model, conditioning), pixels, steps, mode=args.mode, fixed_point_iterations=args.fixed_point,
        clamp_iterations=clamp, refine_iterations=args.refine, progress=progress_bar("embed"),
    )
    metadata = latent_metadata(model, steps, source=args.image.name)
    metadata.update(preparation)
    metadata.update(conditioning_metadata(conditioning))
    metadata.update(psnr=f"{result.psnr:.3f}", embedding_mode=result.mode, fixed_point_iterations=str(result.fixed_point_iterations),
                    clamp_iterations=str(result.clamp_iterations), refine_iterations=str(args.refine))
    save_latent(args.output, result.latent, metadata)
    if args.reconstruction:
        save_png(args.reconstruction, result.reconstruction)
    print(f"wrote {args.output}")
    print(f"reconstruction PSNR {describe_psnr(result.psnr, 2)} ({result.mode}); latent {result.stats.describe()}; {result.seconds:.1f} s")
    warning = out_of_domain_sentence(result.psnr, result.stats, model.source.spec)
    if warning:
        print(warning)
    return 0


def _embed_input(args: argparse.Namespace, size: int, background) -> tuple:
    """The pixels to embed and what to record about how they were made: a face aligned FFHQ-style, or a centre crop."""
    from latent_studio.media.face_align import align_file
    from latent_studio.media.images import load_prepared

    landmarks = landmarks_option(args.align, args.image)
    if landmarks is None:
        prepared = load_prepared(args.image, size, args.fit, background)
        return prepared.pixels, prepared.preparation.as_metadata()
    pixels, alignment = align_file(args.image, landmarks, size)
    return pixels, alignment.as_metadata()


def cmd_train_embedder(args: argparse.Namespace) -> int:
    import dataclasses

    from latent_studio.engine.embedder import embedder_folder
    from latent_studio.engine.embedder_training import EmbedderRecipe, save_embedder, train_embedder, uses_picture_loss

    model = load(args)
    check_companion_target(model, embedder_folder(model.source.home), "one-pass embedding network", args.force,
                           "Embed with inversion (`embed --mode inversion`, the default) instead.")
    overrides = {k: v for k, v in (("pairs", args.pairs), ("training_steps", args.training_steps), ("steps", args.steps),
                                   ("time_limit", args.time_limit), ("batch", args.batch), ("channels", args.channels),
                                   ("init_from", args.init_from and str(args.init_from)),
                                   ("learning_rate", args.learning_rate)) if v}
    if args.picture_weight is not None:
        overrides["picture_weight"] = args.picture_weight
    recipe = dataclasses.replace(EmbedderRecipe(), **overrides)
    check_pair_count(recipe, args.renders)
    show = phase_printer()
    limit = f" (at most {recipe.time_limit:g} s)" if recipe.time_limit else ""
    judged = uses_picture_loss(model, recipe.picture_weight)
    judge = f"; picture loss through the draft decoder, weight {recipe.picture_weight:g}" if judged else ""
    if args.picture_renders and not judged:
        print("--picture-renders goes unused: the picture loss needs the model's draft decoder and a weight above 0",
              file=sys.stderr, flush=True)
    elif args.picture_renders:
        judge += f", judging {args.picture_renders} other renders"
    print(f"{recipe.pairs} sampled pairs and {args.renders} renders at {recipe.steps} DDIM steps, "
          f"then {recipe.training_steps} training steps{limit}{judge}", flush=True)
    pairs = training_pairs(model, recipe, args.renders, args.pairs_cache, args.workers, show)
    pictures = None
    if args.picture_renders and judged:
        from latent_studio.demo.data import PICTURE_RENDER_SEED, render_many

        pictures = render_many(args.picture_renders, model.image_size[-1], args.workers, seed=PICTURE_RENDER_SEED)
    network, info = train_embedder(model, recipe, pairs, progress=show, pictures=pictures)
    folder = save_embedder(network, model.source.home)
    print(f"wrote {folder} (held-out reconstruction {info['held_out_psnr_mean']:.2f} dB mean, "
          f"{info['held_out_psnr_min']:.2f} dB min; loss {info['final_loss']:.4f}; "
          f"{info['training_steps_run']} steps in {info['training_seconds']:.0f} s)")
    return 0


def cmd_train_draft(args: argparse.Namespace) -> int:
    import dataclasses

    from latent_studio.engine.draft_decoder import draft_folder
    from latent_studio.engine.draft_training import DraftRecipe, save_draft_decoder, train_draft_decoder

    model = load(args)
    folder = draft_folder(model.source.home)
    check_companion_target(model, folder, "draft decoder", args.force, "Its drafts stay a few DDIM steps.")
    overrides = {k: v for k, v in (("pairs", args.pairs), ("training_steps", args.training_steps), ("steps", args.steps),
                                   ("time_limit", args.time_limit), ("batch", args.batch),
                                   ("init_from", args.init_from and str(args.init_from))) if v}
    recipe = dataclasses.replace(DraftRecipe(), **overrides)
    check_pair_count(recipe, 0)
    show = phase_printer()
    limit = f" (at most {recipe.time_limit:g} s)" if recipe.time_limit else ""
    print(f"{recipe.pairs} sampled pairs at {recipe.steps} DDIM steps, then {recipe.training_steps} training "
          f"steps{limit}", flush=True)
    pairs = training_pairs(model, recipe, 0, args.pairs_cache, None, show)
    draft = train_draft_decoder(model, recipe, pairs, progress=show)
    save_draft_decoder(draft, model.source.home)
    info = draft.info
    print(f"wrote {folder} (held-out drafts against {recipe.steps} steps: {info['held_out_psnr_mean']:.2f} dB mean, "
          f"{info['held_out_psnr_min']:.2f} dB min; loss {info['final_loss']:.4f}; "
          f"{info['training_steps_run']} steps in {info['training_seconds']:.0f} s)")
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    from latent_studio.app.discovery import discover_choosing_edits, draw_gallery, gallery
    from latent_studio.core.atomic import atomic_write_bytes
    from latent_studio.core.directions import save_direction
    from latent_studio.core.seeds import noise_latent

    check_output(args.output, ".png", force=args.force)
    paths = [args.save / f"component_{k + 1}.safetensors" for k in range(args.count)] if args.save else []
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    for path in paths:
        check_output(path, ".safetensors", force=args.force)
    model = load(args)
    found = discover_choosing_edits(model, args.count, args.samples, progress=progress_bar("faces"))
    strips = gallery(model, found, noise_latent(args.seed, model.latent_shape))
    labels = [f"{d.name} ({100 * share:.0f}%)" for d, share in zip(found.directions, found.explained, strict=True)]
    buffer = io.BytesIO()
    draw_gallery(strips, labels).save(buffer, "PNG")
    atomic_write_bytes(args.output, buffer.getvalue())
    for direction, path in zip(found.directions, paths):  # none without --save
        save_direction(path, direction)
    saved = f"; the directions in {args.save}" if paths else ""
    print(f"wrote {args.output}: {args.count} directions found on {args.samples} faces (strips from -3 to 3 "
          f"standard deviations){saved}")
    return 0


def check_companion_target(model, folder: Path, name: str, force: bool, instead: str) -> None:
    """A network trained for a model is saved beside it: a folder of a pixel-space model, not yet holding one."""
    if model.source.kind == "hub":
        raise UserError(f"The model comes from the Hugging Face cache; copy it to a folder first (the {name} is "
                        "saved beside the model).")
    if tuple(model.image_size) != tuple(model.latent_shape[1:]):
        raise UserError(f"The {name} is trained for pixel-space models; '{model.source.spec}' is a "
                        f"{model.family.name} model with a {model.latent_shape[1]}x{model.latent_shape[2]} latent "
                        f"under {model.image_size[1]}x{model.image_size[0]} pictures. {instead}")
    if folder.exists() and not force:
        raise UserError(f"{folder} already holds a {name}; pass --force to replace it.")


def check_pair_count(recipe, renders: int) -> None:
    if recipe.pairs + renders - recipe.held_out < recipe.batch:
        raise UserError(f"{recipe.pairs + renders} pairs leave less than one batch of {recipe.batch} after "
                        f"{recipe.held_out} held out; ask for more --pairs or a smaller --batch.")


def phase_printer():
    """A progress callback printing each phase's start, end and every 100th step to stderr."""
    phase = {"name": ""}

    def show(name: str, done: int, total: int) -> None:
        if name != phase["name"] or done == total or done % 100 == 0:
            print(f"{name}: {done}/{total}", file=sys.stderr, flush=True)
            phase["name"] = name

    return show


def training_pairs(model, recipe, renders: int, cache: Path | None, workers: int | None, show):
    """The model's own pairs plus, when asked, toy-head renders with their inversions; cached when asked."""
    from latent_studio.engine.embedder_training import inversion_pairs, load_pairs, sample_pairs, save_pairs

    if cache is not None and (cached := load_pairs(cache, model.content_hash, recipe.steps)) is not None:
        if len(cached.images) == recipe.pairs + renders:
            print(f"using the {len(cached.images)} pairs in {cache}", flush=True)
            return cached
    batch = 256 if model.placement.device.type == "cuda" else 32
    pairs = sample_pairs(model, recipe.pairs, recipe.steps, batch=batch, progress=lambda d, t: show("pairs", d, t))
    if renders:
        from latent_studio.demo.data import render_many

        images = render_many(renders, model.image_size[-1], workers)
        pairs = pairs.join(inversion_pairs(model, images, recipe.steps, batch=batch,
                                           progress=lambda d, t: show("inversions", d, t)))
    pairs = pairs.shuffled(recipe.seed)
    if cache is not None:
        save_pairs(pairs, cache, model.content_hash, recipe.steps)
    return pairs


def cmd_decode(args: argparse.Namespace) -> int:
    from latent_studio.core.latent_file import load_latent
    from latent_studio.core.latent_math import latent_warning
    from latent_studio.engine.decode import DEFAULT_STEPS, decode
    from latent_studio.media.images import save_png

    check_output(args.output, ".png", inputs=[args.latent], force=args.force)
    latent_file = load_latent(args.latent)
    model = load(args)
    made_with = latent_file.metadata.get("model_hash")
    if made_with and made_with != model.content_hash:
        print(f"warning: {args.latent.name} was made with another model ({made_with[:12]}); the image will differ.", file=sys.stderr)
    for i, latent in enumerate(latent_file.latent):
        warning = latent_warning(latent, f"latent {i} of {args.latent.name}" if len(latent_file.latent) > 1 else args.latent.name)
        if warning:
            print(f"latent-studio: warning: {warning}", file=sys.stderr)
    steps = args.steps or int(latent_file.metadata.get("steps", DEFAULT_STEPS))
    made_at = latent_file.metadata.get("steps")
    if "embedding_mode" in latent_file.metadata and made_at and made_at != str(steps):  # an inversion fits its steps
        print(f"latent-studio: warning: {args.latent.name} was embedded at {made_at} steps; at {steps} it will not "
              "look like the image it came from. Leave --steps out to decode at the steps it was made with.",
              file=sys.stderr)
    conditioning = prompt_conditioning(model, args, latent_file.metadata)  # as embedded, unless told otherwise
    images = decode(model, latent_file.latent, steps, conditioning=conditioning, progress=progress_bar("decode"))
    outputs = numbered(args.output, len(images))
    for path in outputs:
        check_output(path, ".png", inputs=[args.latent], force=args.force)
    for path, image in zip(outputs, images, strict=True):
        save_png(path, image)
    print(f"wrote {', '.join(str(p) for p in outputs)} ({steps} steps)")
    return 0


