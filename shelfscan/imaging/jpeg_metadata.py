"""Lossless removal of metadata from a JPEG: the pixels' bytes are copied untouched.

Kept: the frame, tables and scans; JFIF (APP0), the colour profile (APP2 ``ICC_PROFILE``) and
Adobe's colour-transform flag (APP14), which decoders need to show the right colours. Dropped:
EXIF (with GPS, camera serial, owner name), XMP, IPTC, comments, MPF and every extra frame an
MPO carries after the primary image (their own EXIF would leak GPS again).
"""

from __future__ import annotations

import re

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_KEPT_APP_PREFIXES = {
    0xE0: (b"JFIF\x00", b"JFXX\x00"),
    0xE2: (b"ICC_PROFILE\x00",),
    0xEE: (b"Adobe",),
}
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker D0–D7;
# anything else is the next real marker.
_NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


class JpegStructureError(ValueError):
    """The marker structure is broken (the decoder would have said so too)."""


def strip_jpeg_metadata(data: bytes) -> tuple[bytes, list[str]]:
    """The primary image without metadata, and the names of what was removed."""
    if not data.startswith(SOI):
        raise JpegStructureError("missing start-of-image marker")
    out = [SOI]
    removed: list[str] = []
    pos = 2
    while True:
        while data[pos : pos + 2] == b"\xff\xff":
            pos += 1  # fill bytes before a marker
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise JpegStructureError(f"expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append(EOI)
            if pos + 2 < len(data):
                # An MPO's further frames, or junk some apps append; either may carry EXIF.
                removed.append("trailing data")
            return b"".join(out), sorted(set(removed))
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if pos + 4 > len(data):
            raise JpegStructureError(f"segment header cut off at byte {pos}")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise JpegStructureError(f"segment at byte {pos} runs past the end of the file")
        segment = data[pos:end]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            payload = segment[4:]
            kept = _KEPT_APP_PREFIXES.get(marker, ())
            if any(payload.startswith(prefix) for prefix in kept):
                out.append(segment)
            else:
                removed.append(_describe(marker, payload))
            pos = end
            continue
        out.append(segment)
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data follows until the next marker
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise JpegStructureError("scan data runs to the end of the file without a marker")
            out.append(data[pos : found.start()])
            pos = found.start()


def _describe(marker: int, payload: bytes) -> str:
    if marker == 0xFE:
        return "comment"
    if marker == 0xE1:
        if payload.startswith(b"Exif\x00"):
            return "exif"
        if payload.startswith(b"http://ns.adobe.com/xap/"):
            return "xmp"
    if marker == 0xED:
        return "iptc"
    if marker == 0xE2 and payload.startswith(b"MPF\x00"):
        return "mpf"
    return f"app{marker - 0xE0}"
