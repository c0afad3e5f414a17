"""Paste an animated face back into the photo it was aligned from: an animated portrait at the photo's size.

The aligned square came from an oriented square (the quad) in the photo
(``face_align.Alignment``). Each rendered frame is warped back onto that
quad and blended into the photo through a mask that is 1 inside the square
and falls to 0 over a feathered border, so the seam does not show; outside
the quad the photo is untouched. The warp and the mask are computed once per
export (``Backplate``); each frame then costs one resampling at the photo's
size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from latent_studio.core.errors import ImageError
from latent_studio.media.face_align import Alignment

FEATHER = 0.08  # the mask's soft border, as a fraction of the square's side


@dataclass(frozen=True)
class Backplate:
    """A photo ready to receive frames of the aligned square: its pixels, the map back and the blending mask."""

    photo: np.ndarray  # float32 (H, W, 3) in [0, 1]
    mask: np.ndarray  # float32 (H, W, 1): how much of the pasted frame shows
    photo_to_square: tuple[float, ...]  # PIL's affine data: photo pixel -> pixel of the frame's square
    frame_size: int  # the square's side in pixels (the model's resolution)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every pasted frame: the photo's, or the size asked for."""
        return self.photo.shape[1], self.photo.shape[0]


def feathered_square(size: int, feather: float = FEATHER) -> np.ndarray:
    """(size, size) float32: 1 in the middle, falling smoothly to 0 at the edges over ``feather`` of the side."""
    border = max(1.0, feather * size)
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / border, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible edge where the ramp starts
    return np.minimum.outer(ramp, ramp).astype(np.float32)


def make_backplate(photo_bytes: bytes, alignment: Alignment, frame_size: int,
                   size: tuple[int, int] | None = None) -> Backplate:
    """Open the photo the face was aligned from and prepare the map back from the frame's square into it.

    ``size`` (width, height): the pasted frames' size when not the photo's. A size at most a pixel smaller (made
    even for video) crops the photo's last row or column; any other is the photo resized.
    """
    try:
        photo = ImageOps.exif_transpose(Image.open(io.BytesIO(photo_bytes))).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"The photo kept for pasting the face back cannot be read ({exc}).") from exc
    if photo.size != tuple(alignment.source_size):
        raise ImageError(f"The photo kept for pasting back is {photo.size[0]}x{photo.size[1]}, but the face was "
                         f"aligned on a {alignment.source_size[0]}x{alignment.source_size[1]} one; embed the face "
                         "again with alignment.")
    forward = np.vstack([alignment.quad_to_photo(frame_size), [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)[:2].ravel()
    # PIL's transforms work in continuous coordinates (a pixel's centre at +0.5) and the quad is in pixel indices,
    # as align_face read it (it passes quad + 0.5): the square's point u sits at photo point M u + quad[0] + 0.5
    a, b, c, d, e, f = inverse
    c, f = c - 0.5 * (a + b), f - 0.5 * (d + e)
    width, height = size or photo.size
    if 0 <= photo.width - width <= 1 and 0 <= photo.height - height <= 1:
        photo = photo.crop((0, 0, width, height))
    else:  # an output pixel x is photo point x * (photo width / output width)
        sx, sy = photo.width / width, photo.height / height
        a, b, d, e = a * sx, b * sy, d * sx, e * sy
        photo = photo.resize((width, height), Image.Resampling.LANCZOS)
    data = (a, b, c, d, e, f)
    square = Image.fromarray((feathered_square(frame_size) * 255).round().astype(np.uint8), "L")
    mask = np.asarray(square.transform(photo.size, Image.AFFINE, data, Image.BILINEAR, fillcolor=0), np.float32) / 255
    return Backplate(np.asarray(photo, np.float32) / 255, mask[..., None], data, frame_size)


def paste_back(frame: np.ndarray, plate: Backplate) -> np.ndarray:
    """The frame (S, S, 3; uint8 or uint16) blended into the photo at its place; same dtype, the photo's size."""
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    channels = [Image.fromarray(frame[..., k].astype(np.float32) / scale, "F").transform(
        plate.size, Image.AFFINE, plate.photo_to_square, Image.BICUBIC) for k in range(3)]
    warped = np.clip(np.stack([np.asarray(c) for c in channels], axis=-1), 0.0, 1.0)
    blended = plate.photo * (1.0 - plate.mask) + warped * plate.mask
    return (blended * scale).round().astype(frame.dtype)
