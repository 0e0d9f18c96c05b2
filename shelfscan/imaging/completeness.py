"""Cheap "is the end of the file there?" checks, one per format, without decoding a pixel.

A phone upload cut off by a dropped connection is the common kind of broken photo, and most
formats say where they end: a JPEG ends with the EOI marker, a PNG with its IEND chunk, a GIF
with its trailer byte, and RIFF (WEBP), BMP, ICO and ISO-BMFF (HEIF) files state their sizes.
These checks read only the file's structure, in microseconds, so the upload answer can refuse
a truncated file at once. They are deliberately one-sided: when a file's end looks unusual but
not provably missing (data appended after a JPEG's EOI, as motion photos do), they pass, and
the worker's full decode decides. Damage in the middle of a file is the full decode's job too.
"""

from __future__ import annotations

from shelfscan.imaging.formats import ImageFormat

_PADDING = frozenset(b"\x00\xff\r\n \t")
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def missing_end(data: bytes, image_format: ImageFormat) -> str | None:
    """Why the file is provably cut off, or None when its end is where it should be (or the
    format does not say; TIFF keeps its directory anywhere)."""
    check = _CHECKS.get(image_format)
    return check(data) if check is not None else None


def _strip_padding(data: bytes) -> bytes:
    end = len(data)
    while end > 0 and data[end - 1] in _PADDING:
        end -= 1
    return data[:end]


def _jpeg(data: bytes) -> str | None:
    if _strip_padding(data).endswith(b"\xff\xd9"):
        return None
    # Entropy-coded data never holds FF D9, so a JPEG without one anywhere has lost its end.
    # One earlier in the file (an EXIF thumbnail's, or the primary image's before an appended
    # motion-photo video) proves nothing either way: the worker's decode decides.
    if data.find(b"\xff\xd9") < 0:
        return "the JPEG end-of-image marker is missing"
    return None


def _png(data: bytes) -> str | None:
    if _PNG_IEND in data:  # chunks after IEND are junk some tools append; decoders ignore it
        return None
    return "the PNG IEND chunk is missing"


def _gif(data: bytes) -> str | None:
    return None if _strip_padding(data).endswith(b";") else "the GIF trailer byte is missing"


def _webp(data: bytes) -> str | None:
    declared = int.from_bytes(data[4:8], "little") + 8
    if len(data) < declared:
        return f"the RIFF header declares {declared:,} bytes but only {len(data):,} arrived"
    return None


def _bmp(data: bytes) -> str | None:
    if len(data) < 14:
        return "the BMP header is cut off"
    declared = int.from_bytes(data[2:6], "little")
    pixels_at = int.from_bytes(data[10:14], "little")
    # Some writers leave the file size at 0; the pixel offset must lie inside the file anyway.
    if (declared and len(data) < declared) or pixels_at >= len(data):
        return f"the BMP header declares {max(declared, pixels_at):,} bytes, {len(data):,} arrived"
    return None


def _ico(data: bytes) -> str | None:
    count = int.from_bytes(data[4:6], "little")
    if len(data) < 6 + 16 * count:
        return "the ICO directory is cut off"
    for index in range(count):
        entry = data[6 + 16 * index : 22 + 16 * index]
        size = int.from_bytes(entry[8:12], "little")
        offset = int.from_bytes(entry[12:16], "little")
        if offset + size > len(data):
            return f"ICO image {index} runs to byte {offset + size:,} of {len(data):,}"
    return None


def _iso_bmff(data: bytes) -> str | None:
    """Top-level boxes must tile the file exactly; the last may say "to the end" (size 0)."""
    position = 0
    while position < len(data):
        if position + 8 > len(data):
            return f"a box header at byte {position:,} is cut off"
        size = int.from_bytes(data[position : position + 4], "big")
        if size == 1:
            if position + 16 > len(data):
                return f"a box header at byte {position:,} is cut off"
            size = int.from_bytes(data[position + 8 : position + 16], "big")
        elif size == 0:
            return None
        if size < 8:
            return f"the box at byte {position:,} has an impossible size ({size})"
        if position + size > len(data):
            box = data[position + 4 : position + 8].decode("latin-1")
            return f"the {box!r} box runs to byte {position + size:,} of {len(data):,}"
        position += size
    return None


_CHECKS = {
    ImageFormat.JPEG: _jpeg,
    ImageFormat.PNG: _png,
    ImageFormat.GIF: _gif,
    ImageFormat.WEBP: _webp,
    ImageFormat.BMP: _bmp,
    ImageFormat.ICO: _ico,
    ImageFormat.HEIF: _iso_bmff,
}
