"""Photos made in code for the upload tests: a shelf-like scene in every accepted format, and
the broken files phones and networks produce."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def shelf_scene(width: int = 640, height: int = 480, *, seed: int = 0) -> Image.Image:
    """Shelf edges and packs with sharp edges and some sensor noise: passes every quality check."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (150, 150, 145))
    draw = ImageDraw.Draw(image)
    shelves = 4
    row = height / shelves
    for shelf in range(shelves):
        top = round(shelf * row)
        x = 4
        while x < width - 20:
            pack_w = int(rng.integers(width // 16, width // 8))
            color = tuple(int(c) for c in rng.integers(30, 230, 3))
            draw.rectangle([x, top + row * 0.15, x + pack_w - 3, top + row * 0.9], fill=color)
            draw.rectangle(
                [x + pack_w * 0.2, top + row * 0.35, x + pack_w * 0.7, top + row * 0.5],
                fill=(245, 245, 240),
            )
            x += pack_w
        draw.rectangle([0, top + row * 0.9, width, top + row], fill=(40, 40, 45))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg_with_exif(image: Image.Image, *, orientation: int = 1, gps: bool = True) -> bytes:
    """A phone-like JPEG: camera make, owner, GPS position and an orientation tag."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Jane Doe"  # Artist
    exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.25)}
    return encode(image, "JPEG", quality=90, exif=exif, comment=b"secret note")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR declaring any size, with a tiny valid IDAT that is too short."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def png_bomb(side: int) -> bytes:
    """A real, fully decodable grayscale PNG of ``side``² black pixels: a few hundred KB that
    would need ``side``² bytes of memory (144 MB at 12,000 px)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    parts = [compressor.compress(row * 500) for _ in range(side // 500)]
    parts.append(compressor.compress(row * (side % 500)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = b"".join(parts)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
