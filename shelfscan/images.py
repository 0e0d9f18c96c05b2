"""Decode uploaded photo bytes into an upright RGB image.

Phones store portrait photos as landscape pixels plus an EXIF orientation tag; every box
shelfscan reports is in pixels of the *upright* image, so the transpose happens here, once
(the pipeline takes the upright image as it is).
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageOps, UnidentifiedImageError


@functools.cache
def register_heif() -> bool:
    """Teach Pillow to open HEIC/HEIF (photos straight from iPhones); True when it can.

    The one place that registers the opener: whoever decodes photos calls this (it runs once).
    """
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
        return False
    register_heif_opener()
    return True


register_heif()

# Decompression-bomb guard: 16,000 px per side is Azure Image Analysis' own limit.
Image.MAX_IMAGE_PIXELS = 16_000 * 16_000


EXIF_ORIENTATION = 0x0112


def exif_orientation(opened: Image.Image) -> int:
    """The photo's EXIF orientation (1–8); 1 when it has none, or unreadable or out-of-range
    EXIF (which ``load_image`` would not turn by either)."""
    try:
        value = int(opened.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def upright_rgb(opened: Image.Image) -> Image.Image:
    """``opened`` decoded, upright (EXIF orientation applied) and RGB, transparent pixels
    black. A photo that already is comes back as decoded, not copied: on a cloud VM a copy
    of a 12 MP photo's pixels costs about as much as decoding them (≈ 40 ms each), and the
    plain path made two."""
    opened.load()
    orientation = opened.getexif().get(EXIF_ORIENTATION, 1)
    upright = opened if orientation == 1 else ImageOps.exif_transpose(opened)
    if upright.mode == "RGB" and "transparency" not in upright.info:
        return upright
    return _flatten_onto_black(upright)


def _flatten_onto_black(image: Image.Image) -> Image.Image:
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB")


class ImageDecodeError(ValueError):
    """The bytes are not an image shelfscan can read."""


def load_image(data: bytes) -> Image.Image:
    """Decode, apply the EXIF orientation and convert to RGB. Transparent pixels (a stitched
    panorama's blank ends, a cut-out pasted on a transparent canvas) become black: what they
    hold under the transparency is no picture, and black fill is what the engine counts as out
    of view (``shelfscan.imaging.fill``)."""
    if not data:
        raise ImageDecodeError("image: empty body")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = upright_rgb(opened)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise ImageDecodeError(f"image: cannot decode ({error})") from error
    return image
