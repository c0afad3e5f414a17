"""Align a face photo the way FFHQ and CelebA-HQ faces were aligned, from its eyes and mouth.

Face models were trained on faces cropped and rotated so that the eyes and
mouth sit at fixed places; a photo embedded without that alignment comes
back as a different face. This is FFHQ's own recipe (``recreate_aligned_images``
in NVlabs' ffhq-dataset): from the eye centres and the mouth centre it builds
an oriented square (the "quad") around the face, and the photo is resampled
from that square. Outside the photo the square is filled by mirroring its
edge, as FFHQ does (without its blur).

The alignment is kept with the embedded asset (the photo's size and the
quad's corners), so nothing about the original is lost: the square maps back
into the photo (``quad_to_photo``), which is what pasting an animated face
back needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from latent_studio.core.errors import ImageError
from latent_studio.media.images import open_image


@dataclass(frozen=True)
class FaceLandmarks:
    """Pixel positions in the photo: the eye on the image's left, the eye on its right, the mouth's centre."""

    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    mouth: tuple[float, float]


@dataclass(frozen=True)
class Alignment:
    """Where the aligned square came from: the photo's size and the quad's corners
    (upper left, lower left, lower right, upper right, in photo pixels)."""

    source_size: tuple[int, int]
    quad: tuple[tuple[float, float], ...]

    def as_metadata(self) -> dict[str, str]:
        return {"align_source_size": json.dumps(list(self.source_size)),
                "align_quad": json.dumps([list(corner) for corner in self.quad])}

    @staticmethod
    def from_metadata(metadata: dict[str, str]) -> "Alignment | None":
        """The alignment an asset's metadata keeps, or None when it has none (or it is unreadable)."""
        try:
            size = json.loads(metadata["align_source_size"])
            quad = json.loads(metadata["align_quad"])
            source_size = (int(size[0]), int(size[1]))
            corners = tuple((float(x), float(y)) for x, y in quad)
        except (KeyError, ValueError, TypeError, IndexError):
            return None
        if len(corners) != 4 or min(source_size) < 1 or not np.all(np.isfinite(corners)):
            return None
        return Alignment(source_size, corners)

    def quad_to_photo(self, size: int) -> np.ndarray:
        """The 2x3 affine map from pixel (u, v) of the ``size``-pixel square to its place in the photo."""
        q0, q1, _, q3 = (np.array(corner, np.float64) for corner in self.quad)
        across, down = (q3 - q0) / size, (q1 - q0) / size
        return np.array([[across[0], down[0], q0[0]], [across[1], down[1], q0[1]]])


def parse_manual(text: str) -> FaceLandmarks:
    """``x1,y1,x2,y2,x3,y3``: the left eye, the right eye and the mouth, in the photo's pixels."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 6 or not all(np.isfinite(values)):
        raise ImageError(f"Manual alignment needs six numbers, x,y of the left eye, the right eye and the mouth "
                         f"(e.g. manual:210,260,300,258,255,360), not '{text}'.")
    return FaceLandmarks((values[0], values[1]), (values[2], values[3]), (values[4], values[5]))


def ffhq_quad(landmarks: FaceLandmarks) -> np.ndarray:
    """The (4, 2) corners of FFHQ's oriented square around the face: upper left, lower left, lower right, upper right."""
    eye_left, eye_right, mouth = (np.array(p, np.float64) for p in
                                  (landmarks.eye_left, landmarks.eye_right, landmarks.mouth))
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth - eye_avg
    if np.hypot(*eye_to_eye) < 2 or np.hypot(*eye_to_mouth) < 2:
        raise ImageError("The eyes and the mouth are too close together to align a face; check the points.")
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    centre = eye_avg + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def align_face(photo: Image.Image, landmarks: FaceLandmarks, size: int) -> tuple[np.ndarray, Alignment]:
    """The face resampled from its FFHQ square to ``size`` x ``size`` (uint8 RGB), and the alignment kept with it."""
    rgb = photo.convert("RGB")
    quad = ffhq_quad(landmarks)
    side = float(np.hypot(*(quad[3] - quad[0])))
    if side < size:
        raise ImageError(f"The face is about {side:.0f} pixels across in this photo, smaller than the {size} pixels "
                         "the model works at, so it would embed as a blur; use a larger photo of the face.")
    pad = _mirror_padding(quad, rgb.size)
    if pad:
        rgb = Image.fromarray(np.pad(np.asarray(rgb), ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))
    shifted = quad + pad
    supersample = min(4, max(1, int(side // size)))  # resample from a square near the face's own size, then shrink
    large = rgb.transform((size * supersample,) * 2, Image.Transform.QUAD, tuple((shifted + 0.5).flatten()),
                          Image.Resampling.BILINEAR)
    face = large.resize((size, size), Image.Resampling.LANCZOS) if supersample > 1 else large
    alignment = Alignment(tuple(photo.size), tuple((float(x), float(y)) for x, y in quad))
    return np.asarray(face, np.uint8).copy(), alignment


def open_photo(path) -> Image.Image:
    """A photo as the person sees it (EXIF orientation applied): the pixels landmarks are given in."""
    return ImageOps.exif_transpose(open_image(path))


def align_file(path, landmarks: FaceLandmarks, size: int) -> tuple[np.ndarray, Alignment]:
    return align_face(open_photo(path), landmarks, size)


def _mirror_padding(quad: np.ndarray, size: tuple[int, int]) -> int:
    """How many pixels of mirrored border the photo needs for the quad to fall inside it (0 when it already does)."""
    width, height = size
    outside = max(0.0, -quad.min(), quad[:, 0].max() - width + 1, quad[:, 1].max() - height + 1)
    pad = int(np.ceil(outside)) + 2 if outside > 0 else 0
    if pad >= min(width, height):
        raise ImageError("The face reaches too far beyond the photo's edges to align; use a photo with more room "
                         "around the face, or check the points.")
    return pad
