"""Reading user images: every bad file gets one clear error; every mode becomes correct RGB."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from latent_studio.core.errors import ImageError
from latent_studio.media.images import (
    load_prepared,
    open_image,
    prepare_image,
    save_png,
)


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_header_only(width: int, height: int) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_truncated_png(tmp_path):
    data = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    path = write(tmp_path, "cut.png", data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        open_image(path)


def test_text_file_named_png(tmp_path):
    with pytest.raises(ImageError, match="not an image format"):
        open_image(write(tmp_path, "notes.png", b"shopping list: eggs, milk\n"))


def test_empty_file(tmp_path):
    with pytest.raises(ImageError, match="empty"):
        open_image(write(tmp_path, "empty.png", b""))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        open_image(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = write(tmp_path, "bomb.png", png_header_only(60000, 60000))
    with pytest.raises(ImageError, match="60000x60000|too large"):
        open_image(path)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = (255, 0, 0)  # left half red
    pixels[:, 10:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    path = write(tmp_path, "rotated.png", png_bytes(Image.fromarray(pixels), exif=exif))
    prepared = load_prepared(path, 10)
    assert prepared.preparation.exif_transposed
    assert prepared.preparation.source_size == (10, 20)  # upright: tall
    assert tuple(prepared.pixels[0, 5]) == (255, 0, 0)  # the left edge is now on top
    assert tuple(prepared.pixels[9, 5]) == (0, 0, 255)


def test_alpha_is_composited_on_the_background():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    prepared = prepare_image(rgba, 8, background=(0, 255, 0))
    assert tuple(prepared.pixels[4, 4]) == (0, 255, 0)
    half = Image.new("RGBA", (8, 8), (255, 0, 0, 128))
    r, g, b = prepare_image(half, 8, background=(0, 0, 0)).pixels[4, 4]
    assert 120 <= r <= 136 and g == 0 and b == 0


def test_palette_with_transparency():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    prepared = prepare_image(image, 8, background=(255, 255, 255))
    assert tuple(prepared.pixels[4, 4]) == (255, 255, 255)  # transparent red -> background
    assert tuple(prepared.pixels[0, 0]) == (0, 0, 255)


def test_grayscale_and_cmyk_become_rgb():
    grey = prepare_image(Image.new("L", (8, 8), 77), 8).pixels
    assert grey.shape == (8, 8, 3) and np.all(grey == 77)
    cmyk = prepare_image(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), 8).pixels
    assert tuple(cmyk[0, 0]) == (255, 0, 0)


def test_16_bit_grey_is_scaled_not_clipped():
    image = Image.fromarray(np.full((8, 8), 32768, np.uint16))
    assert image.mode.startswith("I")
    value = prepare_image(image, 8).pixels[0, 0, 0]
    assert value == 128  # Pillow's own convert would clip this to 255


def test_crop_and_pad_are_centred_and_recorded():
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, 5:15] = 200  # the centre square is bright
    image = Image.fromarray(pixels)
    cropped = prepare_image(image, 10, fit="crop")
    assert cropped.pixels.shape == (10, 10, 3) and np.all(cropped.pixels == 200)
    padded = prepare_image(image, 20, fit="pad", background=(9, 9, 9))
    assert np.all(padded.pixels[:5] == 9) and np.all(padded.pixels[15:] == 9)
    assert padded.preparation.fit == "pad" and padded.preparation.size == 20
    assert cropped.preparation.as_metadata()["prep_fit"] == "crop"
    with pytest.raises(ImageError):
        prepare_image(image, 10, fit="stretch")


def test_an_image_smaller_than_the_model_is_refused_not_blown_up():
    image = Image.new("RGB", (40, 30))
    with pytest.raises(ImageError, match="40x30 pixels, smaller than the 64x64 .* at least 64 pixels on its shorter side"):
        prepare_image(image, 64)
    with pytest.raises(ImageError, match="on its longer side"):
        prepare_image(image, 64, fit="pad")
    assert prepare_image(image, 30).pixels.shape == (30, 30, 3)  # exactly the model's size on the short side is enough


def test_save_png_round_trip(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 255, (6, 6, 3), dtype=np.uint8)
    save_png(tmp_path / "x.png", pixels)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), pixels)
