"""Face detection for alignment: BlazeFace (bundled .tflite) under LiteRT finds the eyes and the mouth.

astronaut.jpg is NASA's portrait of Eileen Collins (public domain), as scikit-image ships it, at 384x384.
"""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latent_studio.media.face_align import align_face, open_photo

pytest.importorskip("ai_edge_litert")

from latent_studio.media.face_detect import NoFaceFound, detect_faces, find_face  # noqa: E402

PHOTO = Path(__file__).with_name("astronaut.jpg")
# where the pupils and the middle of the mouth are, read off the photo by eye at 6x zoom (pixels of the 384x384
# picture)
EYE_LEFT, EYE_RIGHT, MOUTH = (153, 77), (185, 78), (167, 111)


def distance(a, b) -> float:
    return math.dist(a, b)


def test_the_eyes_and_the_mouth_are_found_within_a_few_pixels():
    landmarks = find_face(open_photo(PHOTO))
    errors = [distance(landmarks.eye_left, EYE_LEFT), distance(landmarks.eye_right, EYE_RIGHT),
              distance(landmarks.mouth, MOUTH)]
    assert max(errors) < 0.2 * distance(EYE_LEFT, EYE_RIGHT), errors  # the eyes are 35 pixels apart


@pytest.mark.parametrize("angle", [-20, 20])
def test_a_rotated_copy_gives_the_rotated_points(angle):
    photo = Image.open(PHOTO).convert("RGB")
    turned = photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    theta = math.radians(angle)

    def moved(point):  # PIL turns counter-clockwise about the centre; the canvas grows
        dx, dy = point[0] - photo.width / 2, point[1] - photo.height / 2
        return (turned.width / 2 + dx * math.cos(theta) + dy * math.sin(theta),
                turned.height / 2 - dx * math.sin(theta) + dy * math.cos(theta))

    found = find_face(turned)
    for got, expected in ((found.eye_left, moved(EYE_LEFT)), (found.eye_right, moved(EYE_RIGHT)),
                          (found.mouth, moved(MOUTH))):
        # a quarter of the eyes' distance: the model sees the turned, larger canvas at 128x128 (4 pixels a cell)
        assert distance(got, expected) < 0.25 * distance(EYE_LEFT, EYE_RIGHT), (got, expected)


def test_an_exif_rotated_photo_is_found_as_the_person_sees_it(tmp_path):
    upright = Image.open(PHOTO).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways writes it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to show it
    stored.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    found = find_face(open_photo(tmp_path / "sideways.jpg"))
    assert distance(found.eye_left, EYE_LEFT) < 5.0 and distance(found.mouth, MOUTH) < 5.0


def test_no_face_is_one_sentence():
    with pytest.raises(NoFaceFound, match="No face was found in this photo; place the eyes and the mouth by hand"):
        find_face(Image.new("RGB", (300, 200), (120, 120, 120)))
    assert detect_faces(Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8))) == []


def test_the_nose_says_how_the_head_is_turned():
    photo = Image.open(PHOTO).convert("RGB")
    facing = detect_faces(photo)[0]
    assert abs(facing.turn) < 0.2  # she looks nearly at the camera
    mirrored = detect_faces(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[0]
    assert mirrored.turn == pytest.approx(-facing.turn, abs=0.08)  # a mirror image turns the other way


def test_the_found_face_aligns_ffhq_style():
    photo = open_photo(PHOTO)
    crop, alignment = align_face(photo, find_face(photo), 64)
    assert crop.shape == (64, 64, 3) and alignment.source_size == (384, 384)


def test_embed_align_auto_on_the_command_line(trained_model_dir, tmp_path, capsys):
    from latent_studio.cli import main
    from latent_studio.core.latent_file import load_latent

    out = tmp_path / "me.safetensors"
    assert main(["embed", str(PHOTO), "-o", str(out), "--model", str(trained_model_dir), "--device", "cpu",
                 "--steps", "4", "--align", "auto"]) == 0, capsys.readouterr().err
    assert "found a face in astronaut.jpg" in capsys.readouterr().out
    assert "align_quad" in load_latent(out).metadata


def test_a_scaled_and_moved_copy_gives_the_scaled_and_moved_points():
    photo = Image.open(PHOTO).convert("RGB")
    scale, offset = 1.5, (140, 60)
    canvas = Image.new("RGB", (900, 760), (30, 30, 30))
    canvas.paste(photo.resize((576, 576), Image.Resampling.LANCZOS), offset)
    found = find_face(canvas)
    for got, point in ((found.eye_left, EYE_LEFT), (found.eye_right, EYE_RIGHT), (found.mouth, MOUTH)):
        expected = (offset[0] + scale * point[0], offset[1] + scale * point[1])
        assert distance(got, expected) < 0.25 * scale * distance(EYE_LEFT, EYE_RIGHT), (got, expected)


def test_the_turn_measure_follows_the_renderers_yaw():
    from latent_studio.demo.factors import HeadFactors
    from latent_studio.demo.heads import render_batch

    yaws = np.linspace(-45, 45, 13)
    heads = render_batch([HeadFactors(yaw=float(y)) for y in yaws], [3] * len(yaws), size=256)
    turns = [detect_faces(Image.fromarray(head))[0].turn for head in heads]
    assert abs(np.corrcoef(yaws, turns)[0, 1]) >= 0.95  # the label the head-turn discovery fits through
