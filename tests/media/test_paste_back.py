"""Paste-back: a frame of the aligned square composited into the photo it came from, through a feathered mask."""

import io

import numpy as np
import pytest
from PIL import Image

from latent_studio.core.errors import ImageError
from latent_studio.core.metrics import psnr
from latent_studio.media.face_align import Alignment, FaceLandmarks, align_face
from latent_studio.media.paste_back import feathered_square, make_backplate, paste_back


def smooth_photo(width=400, height=300) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([128 + 100 * np.sin(xx / 23.0), 128 + 100 * np.cos(yy / 17.0),
                     128 + 80 * np.sin((xx + yy) / 31.0)], -1).astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_mask_is_whole_inside_and_fades_to_nothing_at_the_edges():
    mask = feathered_square(64)
    assert mask[32, 32] == 1.0 and mask[0, 32] < 0.05 and mask[32, -1] < 0.05
    assert np.all(np.diff(mask[32, :32]) >= 0) and np.all(np.diff(mask[32, 32:]) <= 0)


@pytest.mark.parametrize("landmarks", [FaceLandmarks((180, 130), (230, 135), (203, 190)),   # nearly upright
                                       FaceLandmarks((170, 150), (215, 120), (215, 185))])  # tilted by 34 degrees
def test_the_unedited_square_pasted_back_gives_the_photo_back(landmarks):
    photo = smooth_photo()
    crop, alignment = align_face(Image.fromarray(photo), landmarks, 64)
    plate = make_backplate(png_bytes(photo), alignment, 64)
    pasted = paste_back(crop, plate)
    mask = plate.mask[..., 0]
    assert pasted.shape == photo.shape and pasted.dtype == np.uint8
    np.testing.assert_array_equal(pasted[mask == 0], photo[mask == 0])  # outside the quad: untouched
    inside = mask > 0.99
    assert inside.sum() > 1000  # the face region is there (the quad is about 100 pixels across)
    assert psnr(pasted[inside][None], photo[inside][None]) > 35.0  # inside: the photo, through two resamplings


def test_an_edited_frame_changes_only_the_face_region_and_keeps_sixteen_bits():
    photo = smooth_photo()
    _, alignment = align_face(Image.fromarray(photo), FaceLandmarks((180, 130), (230, 135), (203, 190)), 64)
    plate = make_backplate(png_bytes(photo), alignment, 64)
    white = np.full((64, 64, 3), 65535, np.uint16)
    pasted = paste_back(white, plate)
    assert pasted.dtype == np.uint16
    changed = np.any(pasted != photo.astype(np.uint16) * 257, axis=-1)
    assert not np.any(changed & (plate.mask[..., 0] == 0))
    assert np.all(pasted[plate.mask[..., 0] > 0.999] >= 65534)


def test_a_photo_of_another_size_than_the_alignment_says_is_refused():
    photo = smooth_photo()
    alignment = Alignment((401, 300), ((150.0, 100.0), (150.0, 200.0), (250.0, 200.0), (250.0, 100.0)))
    with pytest.raises(ImageError, match="aligned on a 401x300 one"):
        make_backplate(png_bytes(photo), alignment, 64)
    with pytest.raises(ImageError, match="cannot be read"):
        make_backplate(b"not a photo", alignment, 64)


def test_the_alignment_reads_back_from_an_assets_metadata():
    alignment = Alignment((400, 300), ((150.0, 100.0), (150.0, 200.0), (250.0, 200.0), (250.0, 100.0)))
    assert Alignment.from_metadata(alignment.as_metadata()) == alignment
    assert Alignment.from_metadata({}) is None
    assert Alignment.from_metadata({"align_source_size": "[400, 300]", "align_quad": "[[1, 2]]"}) is None
