"""FFHQ-style face alignment from the eyes and the mouth: canonical positions whatever the photo's turn and scale."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from latent_studio.core.errors import ImageError
from latent_studio.media.face_align import Alignment, FaceLandmarks, align_face, ffhq_quad, parse_manual

COLOURS = {"eye_left": (255, 0, 0), "eye_right": (0, 255, 0), "mouth": (0, 0, 255)}


def face_photo(size, centre, scale, angle_degrees):
    """A grey photo with three coloured dots where a face's eyes and mouth are, turned and scaled; and their positions."""
    angle = np.radians(angle_degrees)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    canonical = {"eye_left": (-1.0, 0.0), "eye_right": (1.0, 0.0), "mouth": (0.0, 1.25)}  # eye distance 2
    points = {name: tuple(np.array(centre) + scale * turn @ np.array(p)) for name, p in canonical.items()}
    photo = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(photo)
    for name, (x, y) in points.items():
        r = scale * 0.12
        draw.ellipse((x - r, y - r, x + r, y + r), fill=COLOURS[name])
    return photo, FaceLandmarks(points["eye_left"], points["eye_right"], points["mouth"])


def dot_centre(face: np.ndarray, colour) -> np.ndarray:
    match = np.all(np.abs(face.astype(int) - np.array(colour)) < 60, axis=-1)
    ys, xs = np.nonzero(match)
    assert len(xs), f"no {colour} dot in the aligned face"
    return np.array([xs.mean(), ys.mean()])


def aligned_dots(photo, marks, size=128):
    face, _ = align_face(photo, marks, size)
    assert face.shape == (size, size, 3) and face.dtype == np.uint8
    return [dot_centre(face, COLOURS[n]) for n in ("eye_left", "eye_right", "mouth")]


@pytest.mark.parametrize("angle, scale, centre", [(23, 45, (400, 420)), (-40, 80, (470, 380)), (90, 70, (430, 400))])
def test_eyes_and_mouth_land_at_the_same_places_whatever_the_turn_and_scale(angle, scale, centre):
    reference = aligned_dots(*face_photo((900, 800), (450, 400), 60, 0))
    left, right, mouth = aligned_dots(*face_photo((900, 800), centre, scale, angle))
    assert left[1] == pytest.approx(right[1], abs=1.0)  # the eyes level
    assert (left[0] + right[0]) / 2 == pytest.approx(64, abs=1.0) and mouth[0] == pytest.approx(64, abs=1.0)
    for found, expected in zip((left, right, mouth), reference):  # the canonical places do not depend on the photo
        np.testing.assert_allclose(found, expected, atol=1.5)


def test_the_alignment_maps_the_square_back_onto_the_photo_and_is_kept_as_metadata():
    photo, marks = face_photo((640, 520), (300, 260), 60, 17)
    face, alignment = align_face(photo, marks, 128)
    to_photo = alignment.quad_to_photo(128)
    for name in ("eye_left", "eye_right", "mouth"):
        u, v = dot_centre(face, COLOURS[name]) + 0.5
        np.testing.assert_allclose(to_photo @ np.array([u, v, 1.0]), getattr(marks, name), atol=1.5)
    meta = alignment.as_metadata()
    assert json.loads(meta["align_source_size"]) == [640, 520]
    assert Alignment((640, 520), tuple(map(tuple, json.loads(meta["align_quad"])))) == alignment


def test_a_face_at_the_edge_is_completed_by_mirroring_and_bad_points_get_a_sentence():
    photo, marks = face_photo((400, 400), (70, 80), 50, 0)  # the quad reaches past the top-left corner
    assert ffhq_quad(marks).min() < 0
    face, _ = align_face(photo, marks, 96)
    assert face.shape == (96, 96, 3) and not np.all(face == 0)  # no black corner: mirrored photo there
    with pytest.raises(ImageError, match="six numbers"):
        parse_manual("1,2,3")
    with pytest.raises(ImageError, match="too close together"):
        ffhq_quad(FaceLandmarks((10, 10), (10.5, 10), (10, 10.5)))
    small, small_marks = face_photo((400, 400), (200, 200), 10, 0)
    with pytest.raises(ImageError, match="smaller than the 256 pixels"):
        align_face(small, small_marks, 256)
    assert parse_manual("210,260,300,258,255,360") == FaceLandmarks((210, 260), (300, 258), (255, 360))
