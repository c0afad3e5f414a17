"""Placing a frame on a canvas of another shape: fit (bars), fill (crop), pad (unscaled), stretch."""

import numpy as np
import pytest

from latent_studio.media.export import frame_to_size


@pytest.fixture()
def square():
    frame = np.full((4, 4, 3), 200, np.uint8)
    frame[:, :2] = 100  # left half darker, to see crops and placement
    return frame


def test_fit_scales_inside_and_adds_black_bars(square):
    out = frame_to_size(square, (8, 4), "fit", "nearest")
    assert out.shape == (4, 8, 3)
    assert out[:, :2].max() == 0 and out[:, 6:].max() == 0
    np.testing.assert_array_equal(out[:, 2:6], square)


def test_fill_scales_to_cover_and_crops_the_middle(square):
    out = frame_to_size(square, (8, 4), "fill", "nearest")
    assert out.shape == (4, 8, 3) and out.min() > 0  # no bars
    assert out[:, :4].max() == 100 and out[:, 4:].min() == 200  # the 8x8 scaled frame, its middle rows kept


def test_pad_centres_unscaled_and_crops_when_the_canvas_is_smaller(square):
    out = frame_to_size(square, (8, 6), "pad", "nearest")
    assert out.shape == (6, 8, 3) and out[0].max() == 0 and out[:, :2].max() == 0
    np.testing.assert_array_equal(out[1:5, 2:6], square)
    small = frame_to_size(square, (2, 2), "pad", "nearest")
    np.testing.assert_array_equal(small, square[1:3, 1:3])


def test_stretch_ignores_the_aspect_ratio_and_16_bit_frames_keep_their_depth(square):
    assert frame_to_size(square, (8, 2), "stretch", "nearest").shape == (2, 8, 3)
    deep = square.astype(np.uint16) * 257
    out = frame_to_size(deep, (8, 4), "fit", "lanczos")
    assert out.dtype == np.uint16 and out.shape == (4, 8, 3)
