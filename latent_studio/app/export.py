"""Render a project to a file: the one implementation behind `latent-studio render` and the app's Export.

Checks everything that can be checked before the first frame (range,
destination, codec, model), then streams frames from the engine's renderer
(or from a Ray cluster, ``app.cluster_render``: the same frames through the
same code below) through an optional upscale into a writer, and finally writes the sidecar
JSON that lets every frame be reproduced. A cancel or an error removes the
partial output.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from latent_studio import __version__
from latent_studio.app.write_behind import WriteBehind
from latent_studio.core.atomic import atomic_write_bytes, check_not_an_input, check_writable_destination
from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import OutputError, UserError
from latent_studio.core.project import FIT_MODES, FRAME_RATES, MAX_SIZE, MIN_SIZE, Asset, Project, check_output_size
from latent_studio.core.writers import output_lock
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.models import LoadedModel
from latent_studio.engine.render import Frame, FrameCache, RenderProgress, render_frames
from latent_studio.media.audio import AudioError, clip, read_audio
from latent_studio.media.face_align import Alignment
from latent_studio.media.export import (
    ExportFormat,
    FrameWriter,
    PngSequenceWriter,
    check_export,
    frame_to_size,
    open_writer,
)
from latent_studio.media.paste_back import Backplate, make_backplate, paste_back


FrameSource = Callable[..., Iterator[Frame]]  # render_frames' signature: (model, project, frames, steps, *, cache,
# batch_size, bit_depth, progress, cancel) -> the frames in the order given

SIZE_ESTIMATE_AFTER = 8  # frames written before the output's size is estimated and checked against free space
SIZE_MARGIN = 1.2  # later frames may compress worse than the first
WRITE_AHEAD_BATCHES = 2  # frames decoded and waiting for the writer thread, in batches


@dataclass(frozen=True)
class ExportOptions:
    format: ExportFormat
    fps: str | None = None  # None: the project's
    first_frame: int = 0  # inclusive range of frame indices on the timeline
    last_frame: int | None = None  # None: the last frame
    scale: float | None = None  # None: the project's output size; else a factor of the model's resolution
    size: tuple[int, int] | None = None  # an exact output (width, height), e.g. 1920x1080; overrides scale
    fit: str = "fit"  # how a frame of another shape sits in ``size``: fit, fill, pad or stretch (media.export)
    steps: int | None = None  # None: the project's final steps
    draft: bool = False  # a playblast: every frame as the canvas drafts it (see draft_steps); ``steps`` is ignored
    paste_back: bool | None = None  # composite into the aligned face's photo (paste_back_plate); None: the project's
    audio: bool = True  # the project's audio, cut to the range, muxed in (a WAV beside PNG frames; GIF has none)
    quality: str = "standard"
    first_number: int = 0  # number of the first file of a PNG sequence
    batch_size: int = 8
    replace: bool = False  # replace an existing file that is not an earlier render (--force; a confirmed dialog)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path
    frames: int
    seconds: float
    size: tuple[int, int]


def draft_steps(model: LoadedModel, project: Project) -> int:
    """What a draft is decoded with: one pass of the model's draft decoder when it has one (``DRAFT_PASS``), else the
    project's preview steps of DDIM (the most the canvas drafts with; a slow machine's canvas uses fewer)."""
    return DRAFT_PASS if model.draft is not None else project.settings.preview_steps


def export_audio(project: Project, frames: list[int], options: ExportOptions) -> np.ndarray | None:
    """What the exported frames hear (float32 stereo at 48 kHz), or None: no audio, not asked, or a GIF."""
    settings = project.settings
    if not (options.audio and settings.audio_path and frames) or options.format.key == "gif":
        return None
    try:
        audio = read_audio(Path(settings.audio_path))
    except AudioError as exc:
        raise AudioError(f"{exc} Point the project at it again (File ▸ Import audio… in the app, --audio FILE on the "
                         "command line), or export without audio (untick Audio, or --no-audio) to render the frames "
                         "alone.") from exc
    rate = settings.rate
    return clip(audio, settings.audio_offset, float(frames[0] / rate), float((frames[-1] + 1) / rate))


def plate_asset(project: Project) -> Asset | None:
    """The face paste-back composites into: the first anchor on the timeline embedded with alignment (its photo
    kept); None when there is none."""
    for key in project.anchors:
        asset = project.assets[key.value]
        if asset.photo and Alignment.from_metadata(asset.metadata) is not None:
            return asset
    return None


def paste_back_plate(project: Project, model: LoadedModel, scale: float | None = None) -> Backplate:
    """The photo and the map back for paste-back, or one sentence saying why there is none. The frames come out
    at the photo's size times ``scale``, made even."""
    asset = plate_asset(project)
    if asset is None:
        raise UserError("Paste-back needs a face on the timeline that was embedded with alignment (File ▸ Embed a "
                        "face with alignment…, or `latent-studio new --align`); this project has none. Export "
                        "without paste-back, or embed the photo that way.")
    height, width = model.image_size
    if height != width:
        raise UserError(f"Paste-back needs square frames; model '{model.source.spec}' makes {width}x{height}.")
    alignment = Alignment.from_metadata(asset.metadata)
    factor = scale or 1.0
    size = photo_output_size((round(alignment.source_size[0] * factor), round(alignment.source_size[1] * factor)))
    return make_backplate(asset.photo, alignment, width, size)


def _paste_back_record(project: Project) -> dict:
    asset = plate_asset(project)
    return {"asset": asset.id, "photo_size": list(Alignment.from_metadata(asset.metadata).source_size)}


def photo_output_size(photo_size: tuple[int, int]) -> tuple[int, int]:
    """The photo's size made even (video encoders need it), scaled down when a side is over MAX_SIZE."""
    width, height = photo_size
    shrink = min(1.0, MAX_SIZE / max(width, height))
    width, height = max(MIN_SIZE, int(width * shrink)), max(MIN_SIZE, int(height * shrink))
    return width - width % 2, height - height % 2


def sidecar_path(output: Path) -> Path:
    output = Path(output)
    return output / "frames.json" if not output.suffix else output.with_name(output.name + ".json")


def _read_sidecar(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("frames"), list) and "app_version" in data:
        return data
    return None


def file_record(path: Path) -> dict:
    """Size and SHA-256 of a written file: what tells a later render that the file is still the one it wrote."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _unchanged(path: Path, record) -> bool:
    """Whether ``path`` still holds what ``record`` (from ``file_record``) says was written there."""
    if not isinstance(record, dict) or not path.is_file() or path.is_symlink():
        return False
    try:
        return path.stat().st_size == record.get("bytes") and file_record(path) == record
    except OSError:
        return False


def is_earlier_render(output: Path, data: dict | None) -> bool:
    """True for a file, or a folder of PNGs, that our sidecar ``data`` (None: none, or not ours) describes and that
    still holds exactly what the render wrote (sizes and hashes): a sidecar beside a file an editor has since
    replaced proves nothing."""
    if data is None:
        return False
    if output.is_dir():
        return not _foreign_entries(output, data)
    return _unchanged(output, data.get("written"))


def _foreign_entries(folder: Path, data: dict) -> list[str]:
    """Names in an earlier render's folder that its frame list does not name, or whose bytes have changed since."""
    records = {f.get("file"): f.get("written") for f in data["frames"] if isinstance(f, dict)}
    return sorted(entry.name for entry in folder.iterdir() if entry.name != "frames.json"
                  and not (entry.name in records and _unchanged(entry, records[entry.name])))


def check_destination(output: Path, fmt: ExportFormat, *, replace: bool = False, inputs=()) -> bool:
    """Before anything renders: writable, never one of ``inputs``, and an existing output only if it is an earlier
    render of ours (recognised by its sidecar) or ``replace`` is set (a file; a folder never, unless ours).
    Returns whether the output is an earlier render of ours (read once: a long sequence's hashes take seconds)."""
    output = Path(output).expanduser()
    side = sidecar_path(output)
    for path in (output, side):
        check_not_an_input(path, inputs, "project")
    exists = output.exists() or output.is_symlink()
    data = _read_sidecar(side)
    ours = exists and is_earlier_render(output, data)
    if fmt.suffix:
        if exists and not ours and not replace:
            why = (f"it has no {side.name} from Latent Studio" if data is None
                   else "its bytes changed since Latent Studio wrote it" if "written" in data
                   else f"its {side.name} is from a version that did not record what it wrote")
            raise OutputError(f"{output} already exists and is not an earlier render ({why}); add --force to "
                              "replace it or choose another name. Nothing was written.")
        if side.exists() and data is None and not replace:
            raise OutputError(f"{side} already exists and is not a Latent Studio frame list; add --force to replace it "
                              "or choose another name. Nothing was written.")
    elif exists and output.is_dir() and not ours and data is not None:
        foreign = _foreign_entries(output, data)
        raise OutputError(f"{output} holds an earlier render, but {foreign[0]}"
                          + (f" and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                          + " is not a frame it wrote, or changed since; choose a new folder "
                          "for the PNG sequence. Nothing was written.")
    check_export(output, fmt, replace_folder=ours)
    return ours


def plan_frames(project: Project, options: ExportOptions) -> tuple[Project, list[int]]:
    """The project as rendered (fps override) and the frame indices, or a clear error for a bad range."""
    if options.fps is not None and options.fps != project.settings.fps:
        if options.fps not in FRAME_RATES:
            raise UserError(f"Frame rate {options.fps} is not supported; choose one of {', '.join(FRAME_RATES)}.")
        project = replace(project, settings=replace(project.settings, fps=options.fps))
    count = project.settings.frame_count
    last = count - 1 if options.last_frame is None else options.last_frame
    if options.first_frame > last:
        raise UserError(f"Frame range {options.first_frame}-{last} runs backwards; give the first frame, then a last "
                        "frame at or after it.")
    if not 0 <= options.first_frame <= last < count:
        raise UserError(f"Frame range {options.first_frame}-{last} is outside the timeline, which has frames 0-{count - 1} "
                        f"({project.settings.duration:g} s at {project.settings.fps} fps).")
    return project, list(range(options.first_frame, last + 1))


def output_size(project: Project, model: LoadedModel, scale: float | None,
                size: tuple[int, int] | None = None) -> tuple[int, int]:
    if size is not None:
        check_output_size(*size)
        return size
    if scale is None:
        return project.settings.width, project.settings.height
    if not 0 < scale <= 64:
        raise UserError(f"Scale {scale:g} must be above 0 and at most 64.")
    height, width = model.image_size
    return 2 * max(8, round(width * scale / 2)), 2 * max(8, round(height * scale / 2))


def export_project(
    project: Project,
    model: LoadedModel,
    output: Path,
    options: ExportOptions,
    *,
    cache: FrameCache | None = None,
    progress: Callable[[RenderProgress], None] | None = None,
    cancel: CancelToken | None = None,
    source: FrameSource = render_frames,
    writer_thread: bool = True,
) -> ExportResult:
    """Render ``options``' frames of ``project`` into ``output`` with its sidecar. ``source`` makes the frames:
    ``render_frames`` here, or another with its signature (``app.cluster_render.RayFrames`` on a Ray cluster);
    the checks, writer, paste-back and sidecar are the same whichever it is. The writer runs on its own thread
    (``writer_thread``; False writes on the caller's), a batch or two behind the decode (``app.write_behind``)."""
    started = time.perf_counter()
    output = Path(output)
    project, frames = plan_frames(project, options)
    size = output_size(project, model, options.scale, options.size)
    if options.fit not in FIT_MODES:
        raise UserError(f"Fit '{options.fit}' is unknown; choose one of {', '.join(FIT_MODES)}.")
    fit = options.fit if options.size else "stretch"  # a multiple of the model's size keeps the project's shape
    pasting = project.settings.paste_back if options.paste_back is None else options.paste_back
    plate = paste_back_plate(project, model, options.scale) if pasting else None
    if plate is not None and options.size is None:
        size = plate.size  # the photo's (times --scale); an exact --size places it with --fit like any frame
    sound = export_audio(project, frames, options)  # before any frame renders: a missing song stops it here
    side = sidecar_path(output)
    ours = check_destination(output, options.format, replace=options.replace)
    if output.suffix:
        check_writable_destination(side)
    steps = draft_steps(model, project) if options.draft else options.steps or project.settings.final_steps
    with output_lock(output):  # a second render to this output is refused until this one ends
        writer = open_writer(output, options.format, project.settings.rate, size, quality=options.quality,
                             first_number=options.first_number,
                             replace_folder=not output.suffix and ours, audio=sound)
        records = []
        seeds = {a.id: a.seed for a in project.assets.values() if a.seed is not None}

        def write(frame: Frame) -> None:  # on the writer's thread: paste-back, resize, encode, the frame's record
            image = frame.image if plate is None else paste_back(frame.image, plate)
            writer.write(frame_to_size(image, size, fit, project.settings.upscale))
            records.append(_frame_record(frame, seeds, writer))
            if len(records) == SIZE_ESTIMATE_AFTER:
                check_disk_space(output, writer.written_bytes(), len(records), len(frames))

        with writer:
            with WriteBehind(write, WRITE_AHEAD_BATCHES * max(1, options.batch_size) if writer_thread else 0) as behind:
                for frame in source(model, project, frames, steps, cache=cache, batch_size=options.batch_size,
                                    bit_depth=options.format.bit_depth, progress=progress, cancel=cancel):
                    behind.put(frame)
                behind.finish()
            path = writer.finish()
        for record in records:  # what lets a later render recognise its own output (``is_earlier_render``)
            if "file" in record:
                record["written"] = file_record(path / record["file"])
        sidecar = {
            "app_version": __version__,
            "model": {"spec": model.source.spec, "content_hash": model.content_hash},
            "project_model": {"spec": project.model.spec, "content_hash": project.model.content_hash},
            "format": options.format.key,
            "fps": project.settings.fps,
            "size": list(size),
            "fit": fit,
            "upscale": project.settings.upscale,
            "steps": steps,
            "draft": options.draft,  # steps 0: one pass of the model's draft decoder
            "audio": None if sound is None else {"file": project.settings.audio_path,
                                                 "offset": project.settings.audio_offset,
                                                 "codec": options.format.audio_codec or "pcm_s16le (audio.wav)"},
            "paste_back": None if plate is None else _paste_back_record(project),
            "frames": records,
        }
        if path.is_file():
            sidecar["written"] = file_record(path)
        try:
            atomic_write_bytes(side, (json.dumps(sidecar, indent=1, sort_keys=True) + "\n").encode())
        except OutputError as exc:
            reason = getattr(exc.__cause__, "strerror", None) or exc
            raise OutputError(f"{path} was written and is complete, but its frame list {side.name} could not be "
                              f"({reason}); only the record of how each frame was made is missing.") from exc
    return ExportResult(path, side, len(frames), time.perf_counter() - started, size)


def check_disk_space(output: Path, written: int, done: int, total: int) -> None:
    """After the first frames: refuse to go on when the disk beside ``output`` cannot hold the rest (with a margin)."""
    if done >= total or written <= 0:
        return
    needed = int(written / done * (total - done) * SIZE_MARGIN)
    folder = Path(output).expanduser().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise OutputError(f"{output} would need about {needed / 1e6:,.0f} MB more for its {total} frames, but only "
                          f"{free / 1e6:,.0f} MB are free on that disk; free some space or render fewer frames. "
                          "The partial output was removed.")


def _frame_record(frame: Frame, seeds: dict[str, int], writer: FrameWriter) -> dict:
    """The sidecar's line for one frame, from the frame alone (and the project's seeds, gathered once)."""
    anchor = frame.spec.anchor
    anchors = [anchor.a] + ([anchor.b] if anchor.b else [])
    record = {
        "frame": frame.index,
        "time": frame.time,
        "anchor": {"a": anchor.a, "b": anchor.b, "weight": anchor.weight},
        "strengths": {d: s for d, s in frame.spec.strengths},
        "seeds": {a: seeds[a] for a in anchors if a in seeds},
    }
    if frame.source_attention_from is not None:  # decoded beside its unedited source (engine/source_attention.py)
        record["source_attention_from"] = frame.source_attention_from
    if isinstance(writer, PngSequenceWriter):
        record["file"] = writer.names[-1]
    return record
