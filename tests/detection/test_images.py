from __future__ import annotations

import io

import pytest
from PIL import Image

from shelfscan.images import ImageDecodeError, load_image


def test_exif_orientation_is_applied():
    buffer = io.BytesIO()
    landscape = Image.new("RGB", (400, 300), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: the upright photo is portrait
    landscape.save(buffer, format="JPEG", exif=exif)
    image = load_image(buffer.getvalue())
    assert image.size == (300, 400)
    assert image.mode == "RGB"


def test_palette_png_becomes_rgb():
    buffer = io.BytesIO()
    Image.new("P", (60, 60)).save(buffer, format="PNG")
    assert load_image(buffer.getvalue()).mode == "RGB"


@pytest.mark.parametrize("data", [b"", b"hello", b"\xff\xd8\xff\xe0 truncated"])
def test_undecodable_bytes_are_a_clear_error(data):
    with pytest.raises(ImageDecodeError, match="image"):
        load_image(data)
