"""Writing rendered frames: videos through PyAV, GIFs and PNG sequences through Pillow.

Every writer works on a temporary name beside the destination and renames it
into place only when the last frame is in, so a cancel, an error or a full
disk leaves nothing half-written (``abort`` removes the partial output).
``check_export`` finds an unwritable destination or a missing codec before
any frame is rendered.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from latent_studio.core.atomic import NEW_FILE_MODE, NEW_FOLDER_MODE, check_writable_destination
from latent_studio.core.errors import OutputError
from latent_studio.core.project import FIT_MODES
from latent_studio.core.writers import remove_stale_temporaries, temporary_prefix
from latent_studio.media.audio import SAMPLE_RATE, write_wav

AUDIO_FILE = "audio.wav"  # beside a PNG sequence's frames


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    suffix: str  # "" for a folder of PNGs
    codec: str = ""
    pix_fmt: str = ""
    options: dict[str, str] = field(default_factory=dict)
    quality_option: str = ""  # the option the quality preset sets (crf for x264/x265/vp9)
    qualities: tuple[int, int, int] = (0, 0, 0)  # high, standard, small
    bit_depth: int = 8
    audio_codec: str = ""  # the codec a project's audio is muxed with ("": none; a PNG sequence gets a WAV beside it)


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat("mp4", "MP4 (H.264)", ".mp4", "libx264", "yuv420p", {"preset": "medium", "movflags": "+faststart"},
                     "crf", (16, 20, 26), audio_codec="aac"),
        ExportFormat("mp4-h265", "MP4 (H.265)", ".mp4", "libx265", "yuv420p",
                     {"preset": "medium", "tag": "hvc1", "x265-params": "log-level=error", "movflags": "+faststart"},
                     "crf", (18, 24, 30), audio_codec="aac"),
        ExportFormat("prores", "MOV (ProRes 422 HQ)", ".mov", "prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0", "movflags": "+write_colr"},
                     audio_codec="pcm_s16le"),
        ExportFormat("prores4444", "MOV (ProRes 4444)", ".mov", "prores_ks", "yuv444p10le", {"profile": "4", "vendor": "apl0", "movflags": "+write_colr"},
                     audio_codec="pcm_s16le"),
        ExportFormat("webm", "WebM (VP9)", ".webm", "libvpx-vp9", "yuv420p", {"b": "0", "row-mt": "1"}, "crf", (24, 32, 40),
                     audio_codec="libopus"),
        ExportFormat("gif", "GIF (shared palette)", ".gif"),
        ExportFormat("png", "PNG sequence (8-bit)", ""),
        ExportFormat("png16", "PNG sequence (16-bit)", "", bit_depth=16),
    )
}
QUALITIES = ("high", "standard", "small")
BT709 = 1  # the value of AVCOL_PRI_BT709, AVCOL_TRC_BT709 and AVCOL_SPC_BT709 in FFmpeg
MPEG_RANGE = 1  # limited ("TV") range


def export_format(key: str) -> ExportFormat:
    try:
        return FORMATS[key]
    except KeyError:
        raise OutputError(f"Unknown format '{key}'; choose one of {', '.join(FORMATS)}.") from None


def guess_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    for key in ("mp4", "prores", "webm", "gif"):
        if FORMATS[key].suffix == suffix:
            return key
    if suffix == "":
        return "png"
    raise OutputError(f"Cannot tell the format from '{path.name}'; give --format ({', '.join(FORMATS)}).")


def check_export(path: Path, fmt: ExportFormat, *, replace_folder: bool = False) -> None:
    """Before rendering: the destination must be writable and the codec present; a PNG sequence goes into a new or
    empty folder (or, with ``replace_folder``, replaces an earlier sequence the caller recognised)."""
    path = Path(path)
    if fmt.suffix:
        if path.suffix.lower() != fmt.suffix:
            raise OutputError(f"{path.name} should end in {fmt.suffix} for {fmt.label}.")
        check_writable_destination(path)
    else:
        if path.suffix:  # the frame list goes inside a folder, beside a file otherwise: a name like a.png would split them
            raise OutputError(f"A PNG sequence is written into a folder, and '{path.name}' reads as a file name; give a "
                              f"folder name without an extension, e.g. {path.stem}_frames.")
        if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not replace_folder)):
            raise OutputError(f"{path} already exists and is not an empty folder; choose a new folder for the PNG sequence.")
        # the sequence is assembled beside the folder and swapped in, so the parent must be writable
        check_writable_destination(path.parent / f".{path.name}" if path.is_dir() else path)
    if fmt.codec:
        import av

        try:
            av.codec.Codec(fmt.codec, "w")
        except Exception:
            raise OutputError(f"This installation's FFmpeg has no {fmt.codec} encoder, needed for {fmt.label}; "
                              "choose another format.") from None


def resize(frame: np.ndarray, size: tuple[int, int], filter_name: str) -> np.ndarray:
    """Scale an (H, W, 3) uint8 or uint16 frame to (width, height) with nearest or Lanczos."""
    width, height = size
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    resample = Image.Resampling.NEAREST if filter_name == "nearest" else Image.Resampling.LANCZOS
    if frame.dtype == np.uint8:
        return np.asarray(Image.fromarray(frame).resize((width, height), resample))
    channels = [
        np.asarray(Image.fromarray(frame[..., c].astype(np.float32), mode="F").resize((width, height), resample))
        for c in range(frame.shape[2])
    ]
    return np.clip(np.rint(np.stack(channels, axis=-1)), 0, 65535).astype(np.uint16)


def frame_to_size(frame: np.ndarray, size: tuple[int, int], mode: str, filter_name: str) -> np.ndarray:
    """A frame on a (width, height) canvas of another shape, as editors place footage.

    ``fit``: scaled to fit inside, black bars on the free sides; ``fill``:
    scaled to cover, the overflow cropped evenly; ``pad``: unscaled, centred
    on black (cropped where the canvas is smaller); ``stretch``: scaled to
    the canvas, aspect ratio ignored.
    """
    if mode not in FIT_MODES:
        raise ValueError(f"unknown fit mode {mode!r}; one of {FIT_MODES}")
    width, height = size
    source_height, source_width = frame.shape[:2]
    if mode == "stretch":
        return resize(frame, size, filter_name)
    if mode == "pad":
        scaled = frame
    else:
        pick = min if mode == "fit" else max
        factor = pick(width / source_width, height / source_height)
        scaled = resize(frame, (max(1, round(source_width * factor)), max(1, round(source_height * factor))), filter_name)
    canvas = np.zeros((height, width, frame.shape[2]), frame.dtype)
    h, w = scaled.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2  # negative: the frame overflows, crop its middle
    src = scaled[max(0, -top) : max(0, -top) + min(h, height), max(0, -left) : max(0, -left) + min(w, width)]
    canvas[max(0, top) : max(0, top) + src.shape[0], max(0, left) : max(0, left) + src.shape[1]] = src
    return canvas


class FrameWriter(ABC):
    """Write frames in order, then ``finish`` (rename into place) or ``abort`` (remove everything)."""

    @abstractmethod
    def write(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def finish(self) -> Path: ...

    @abstractmethod
    def abort(self) -> None: ...

    def written_bytes(self) -> int:
        """Bytes on disk so far (for estimating the whole output's size)."""
        return 0

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abort()


def open_writer(path: Path, fmt: ExportFormat, rate: Fraction, size: tuple[int, int], *,
                quality: str = "standard", first_number: int = 0, replace_folder: bool = False,
                audio: np.ndarray | None = None) -> FrameWriter:
    """``audio``: what the frames' time range hears (media.audio.clip), muxed into a video or written as
    audio.wav beside PNG frames; a GIF has no sound."""
    check_export(path, fmt, replace_folder=replace_folder)
    remove_stale_temporaries(Path(path).parent)  # what writers killed with -9 left behind
    if fmt.key == "gif":
        return GifWriter(Path(path), rate)
    if not fmt.suffix:
        return PngSequenceWriter(Path(path), fmt.bit_depth, first_number, audio=audio)
    return VideoWriter(Path(path), fmt, rate, size, quality, audio=audio)


def _temporary_beside(path: Path) -> Path:
    """A hidden temporary file in the destination's folder (so the final rename is atomic), with normal permissions."""
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(name, NEW_FILE_MODE)
    return Path(name)


def _os_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"Could not write {path}: {exc.strerror or exc}. The partial output was removed.")


class VideoWriter(FrameWriter):
    def __init__(self, path: Path, fmt: ExportFormat, rate: Fraction, size: tuple[int, int], quality: str,
                 audio: np.ndarray | None = None) -> None:
        import av

        if quality not in QUALITIES:
            raise OutputError(f"Quality '{quality}' is unknown; choose {', '.join(QUALITIES)}.")
        self.path, self.fmt, self.size = path, fmt, size
        self.tmp = _temporary_beside(path)
        options = dict(fmt.options)
        if fmt.quality_option:
            options[fmt.quality_option] = str(fmt.qualities[QUALITIES.index(quality)])
        container_options = {"movflags": options.pop("movflags")} if "movflags" in options else {}
        try:
            self.container = av.open(str(self.tmp), "w", format=_container_format(fmt), options=container_options)
            self.stream = self.container.add_stream(fmt.codec, rate=rate)
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = fmt.pix_fmt
            self.stream.time_base = Fraction(rate.denominator, rate.numerator)
            context = self.stream.codec_context
            context.color_primaries = context.color_trc = context.colorspace = BT709
            context.color_range = MPEG_RANGE
            tag = options.pop("tag", None)
            if tag:
                self.stream.codec_tag = tag
            self.stream.options = options
            self.audio, self.audio_done, self.rate = audio, 0, rate
            if audio is not None:
                self.audio_stream = self.container.add_stream(fmt.audio_codec, rate=SAMPLE_RATE, layout="stereo")
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            raise _os_error(path, exc) from exc
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        import av
        from av.video.reformatter import ColorRange, Colorspace

        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(_to_uint8(frame)), format="rgb24")
        image = image.reformat(format=self.fmt.pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
        image.color_primaries = image.color_trc = BT709  # reformat sets the matrix and range; tag the rest
        image.pts = self.count
        try:
            for packet in self.stream.encode(image):
                self.container.mux(packet)
            self._encode_audio(round((self.count + 1) * SAMPLE_RATE / self.rate))  # interleaved with the frames
        except OSError as exc:
            self.abort()
            raise _os_error(self.path, exc) from exc
        self.count += 1

    def _encode_audio(self, until: int) -> None:
        """Mux the audio up to sample ``until`` (None at the end: the rest, then the encoder's flush)."""
        import av

        if self.audio is None:
            return
        end = self.audio.shape[1] if until is None else min(until, self.audio.shape[1])
        if end > self.audio_done:
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.audio[:, self.audio_done:end]), format="fltp",
                                               layout="stereo")
            chunk.sample_rate, chunk.pts, chunk.time_base = SAMPLE_RATE, self.audio_done, Fraction(1, SAMPLE_RATE)
            for packet in self.audio_stream.encode(chunk):
                self.container.mux(packet)
            self.audio_done = end
        if until is None:
            for packet in self.audio_stream.encode():
                self.container.mux(packet)

    def written_bytes(self) -> int:
        try:
            return self.tmp.stat().st_size
        except OSError:
            return 0

    def finish(self) -> Path:
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self._encode_audio(None)
            self.container.close()
            with open(self.tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise _os_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # closing a broken container can fail again; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)


def _container_format(fmt: ExportFormat) -> str:
    return {".mp4": "mp4", ".mov": "mov", ".webm": "webm"}[fmt.suffix]


class GifWriter(FrameWriter):
    """Streams a looping GIF to a temporary file, so memory stays flat however long the clip.

    One 256-colour palette (median cut) is fitted to the first ``PALETTE_FRAMES`` frames and kept for the whole
    clip (one global palette: no flicker); every frame is quantised to it with Floyd–Steinberg dithering and
    written as soon as it arrives. Only the first frames wait in memory, until the palette is fitted.
    """

    PALETTE_FRAMES = 8

    def __init__(self, path: Path, rate: Fraction) -> None:
        self.path, self.rate = path, rate
        self.pending: list[np.ndarray] = []
        self.palette: Image.Image | None = None
        self.tmp: Path | None = None
        self.handle = None
        self.count = 0
        # GIF delays are in hundredths of a second; Pillow takes milliseconds and truncates to 10 ms.
        self.duration = float(1000 / rate)

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(_to_uint8(frame))
        if self.palette is None:
            self.pending.append(frame)
            if len(self.pending) >= self.PALETTE_FRAMES:
                self._start()
            return
        self._emit(frame)

    def _start(self) -> None:
        self.palette = shared_palette(self.pending)
        colours = (self.palette.getpalette() or [])[: 3 * 256]
        colours += [0] * (3 * 256 - len(colours))
        height, width, _ = self.pending[0].shape
        header = (b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + bytes(colours)  # 256-entry global table
                  + b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00")  # loop forever
        self.tmp = _temporary_beside(self.path)
        try:
            self.handle = open(self.tmp, "wb")
            self.handle.write(header)
        except OSError as exc:
            self.abort()
            raise _os_error(self.path, exc) from exc
        pending, self.pending = self.pending, []
        for frame in pending:
            self._emit(frame)

    def _emit(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin

        image = Image.fromarray(frame).quantize(palette=self.palette, dither=Image.Dither.FLOYDSTEINBERG)
        try:
            for chunk in GifImagePlugin.getdata(image, duration=self.duration, disposal=1):
                self.handle.write(chunk)
        except OSError as exc:
            self.abort()
            raise _os_error(self.path, exc) from exc
        self.count += 1

    def written_bytes(self) -> int:
        return self.handle.tell() if self.handle is not None else 0

    def finish(self) -> Path:
        if self.palette is None:
            if not self.pending:
                raise OutputError("No frames to write.")
            self._start()
        try:
            self.handle.write(b";")
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise _os_error(self.path, exc) from exc
        return self.path

    def abort(self) -> None:
        self.pending = []
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def shared_palette(frames: list[np.ndarray], sample: int = 24) -> Image.Image:
    """A 256-colour palette fitted to up to ``sample`` frames spread over ``frames`` (median cut)."""
    picks = np.linspace(0, len(frames) - 1, min(sample, len(frames))).round().astype(int)
    montage = np.concatenate([frames[i] for i in picks], axis=0)
    return Image.fromarray(montage).quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


class PngSequenceWriter(FrameWriter):
    """frame_00000.png, frame_00001.png, ... in a folder that appears only when the sequence is complete."""

    def __init__(self, folder: Path, bit_depth: int, first_number: int = 0, digits: int = 5,
                 audio: np.ndarray | None = None) -> None:
        self.audio = audio  # written as audio.wav beside the frames
        if first_number < 0:
            raise OutputError("The first frame number must be 0 or more.")
        self.folder, self.bit_depth, self.number, self.digits = folder, bit_depth, first_number, digits
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(folder), suffix=".part", dir=folder.parent))
            os.chmod(self.tmp, NEW_FOLDER_MODE)  # mkdtemp makes it private
        except OSError as exc:
            raise _os_error(folder, exc) from exc
        self.names: list[str] = []
        self.bytes = 0

    def name_for(self, number: int) -> str:
        return f"frame_{number:0{self.digits}d}.png"

    def write(self, frame: np.ndarray) -> None:
        name = self.name_for(self.number)
        try:
            write_png(self.tmp / name, frame, self.bit_depth)
        except OSError as exc:
            self.abort()
            raise _os_error(self.folder, exc) from exc
        self.names.append(name)
        self.number += 1
        self.bytes += (self.tmp / name).stat().st_size

    def written_bytes(self) -> int:
        return self.bytes

    def finish(self) -> Path:
        old = None
        try:
            if self.audio is not None:
                write_wav(self.tmp / AUDIO_FILE, self.audio)
            if self.folder.exists():
                if any(self.folder.iterdir()):  # an earlier sequence (check_export allowed it): swap, then remove it
                    old = Path(tempfile.mkdtemp(prefix=temporary_prefix(self.folder), suffix=".old", dir=self.folder.parent))
                    os.replace(self.folder, old)
                else:
                    self.folder.rmdir()
            os.replace(self.tmp, self.folder)
        except OSError as exc:
            if old is not None and not self.folder.exists():
                os.replace(old, self.folder)  # put the earlier sequence back
                old = None
            self.abort()
            raise _os_error(self.folder, exc) from exc
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return self.folder

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else (frame.astype(np.float32) / 257.0).round().astype(np.uint8)


def write_png(path: Path, frame: np.ndarray, bit_depth: int = 8) -> None:
    """An 8-bit PNG through Pillow, or a 16-bit-per-channel one written directly (Pillow cannot write 48-bit RGB)."""
    if bit_depth == 8:
        Image.fromarray(np.ascontiguousarray(_to_uint8(frame))).save(path, format="PNG", compress_level=6)
        return
    pixels = frame.astype(np.uint16) * 257 if frame.dtype == np.uint8 else frame.astype(np.uint16)
    pixels = np.ascontiguousarray(pixels.astype(">u2"))
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16-bit, colour type 2 (RGB)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
