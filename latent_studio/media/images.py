"""Reading user images safely and preparing them for a model; writing PNGs atomically.

Preparation is recorded (``Preparation``) so an embedding says exactly which
pixels it was made from: orientation, alpha background, crop or pad, size.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.errors import ImageError

# Larger than any photo an artist drops in (a 100 MP medium-format frame),
# far smaller than a decompression bomb. Checked before any pixel is decoded.
MAX_PIXELS = 120_000_000

Fit = Literal["crop", "pad"]


@dataclass(frozen=True)
class Preparation:
    source_size: tuple[int, int]  # (width, height) after EXIF orientation
    source_mode: str
    exif_transposed: bool
    fit: Fit
    background: tuple[int, int, int]
    size: int

    def as_metadata(self) -> dict[str, str]:
        return {f"prep_{k}": str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PreparedImage:
    pixels: np.ndarray  # uint8 (size, size, 3)
    preparation: Preparation


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image, turning every failure into one clear ImageError."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ImageError(f"Image {path} does not exist.")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ImageError(f"Image {path} is empty (0 bytes); copy the file again.")
    data = path.read_bytes()
    return decode_image_bytes(data, name=str(path))


def decode_image_bytes(data: bytes, name: str = "image") -> Image.Image:
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} MP), more than the "
                    f"{MAX_PIXELS / 1e6:.0f} MP limit; scale it down in an image editor first."
                )
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name} is too large to open safely ({exc}); scale it down first.") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name} is not an image format Latent Studio can read (PNG, JPEG, WebP, TIFF, BMP, GIF).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name} is damaged or truncated and cannot be decoded ({exc}).") from exc
    return image


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha composited on ``background``, 16-bit scaled, CMYK converted."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = _high_bit_depth_to_l(image)
        mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    elif mode == "RGBA" or mode == "RGB":
        pass
    else:  # L, 1, CMYK, YCbCr, LAB, HSV
        image = image.convert("RGB")
    if image.mode == "RGBA":
        canvas = Image.new("RGBA", image.size, background + (255,))
        image = Image.alpha_composite(canvas, image).convert("RGB")
    return image


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit grey to 8-bit by scaling, not clipping (Pillow's convert clips at 255)."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = max(float(array.max()), 1.0) if array.size else 1.0
    elif image.mode == "I":
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
    else:
        top = 65535.0
    scaled = np.clip(np.round(array / top * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)


def prepare_image(
    image: Image.Image,
    size: int,
    fit: Fit = "crop",
    background: tuple[int, int, int] = (255, 255, 255),
) -> PreparedImage:
    """EXIF orientation, RGB, centre crop (or pad) to a square, Lanczos resize to ``size``; never enlarged."""
    if fit not in ("crop", "pad"):
        raise ImageError(f"Unknown fit '{fit}': use 'crop' or 'pad'.")
    source_mode = image.mode
    transposed = _has_rotation(image)
    image = ImageOps.exif_transpose(image)
    rgb = to_rgb(image, background)
    width, height = rgb.size
    side = min(width, height) if fit == "crop" else max(width, height)
    if side < size:
        raise ImageError(
            f"The image is {width}x{height} pixels, smaller than the {size}x{size} the model works at, so it would be "
            f"blown up and embed as a blur; use a picture at least {size} pixels on its "
            f"{'shorter' if fit == 'crop' else 'longer'} side."
        )
    if fit == "crop":
        left, top = (width - side) // 2, (height - side) // 2
        square = rgb.crop((left, top, left + side, top + side))
    else:
        square = Image.new("RGB", (side, side), background)
        square.paste(rgb, ((side - width) // 2, (side - height) // 2))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    prep = Preparation((width, height), source_mode, transposed, fit, tuple(background), size)
    return PreparedImage(np.asarray(square, dtype=np.uint8).copy(), prep)


def _has_rotation(image: Image.Image) -> bool:
    try:
        return image.getexif().get(0x0112, 1) not in (1, None)
    except Exception:  # a broken EXIF block only means no orientation
        return False


def load_prepared(path: Path, size: int, fit: Fit = "crop", background: tuple[int, int, int] = (255, 255, 255)) -> PreparedImage:
    return prepare_image(open_image(path), size, fit, background)


def encode_png(pixels: np.ndarray) -> bytes:
    array = np.asarray(pixels)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"encode_png needs uint8 (H, W, 3) pixels, got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write a PNG atomically: the old file stays until the new one is complete."""
    atomic_write_bytes(Path(path), encode_png(pixels))
