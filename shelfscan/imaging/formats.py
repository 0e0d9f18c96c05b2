"""What kind of image a byte string really is, judged by its first bytes, and which declared
content types are honest about it.

Phones and browsers declare a content type for every upload; some lie (a renamed file, a
proxy that rewrites headers). The magic bytes decide; the declared type only has to agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    BMP = "bmp"
    WEBP = "webp"
    ICO = "ico"
    TIFF = "tiff"
    HEIF = "heif"


@dataclass(frozen=True)
class FormatInfo:
    format: ImageFormat
    content_types: frozenset[str]
    # Pillow's names for the decoded format; MPO is a JPEG with extra frames appended.
    pillow_formats: frozenset[str]


FORMATS: dict[ImageFormat, FormatInfo] = {
    info.format: info
    for info in (
        FormatInfo(
            ImageFormat.JPEG,
            frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "image/mpo"}),
            frozenset({"JPEG", "MPO"}),
        ),
        FormatInfo(ImageFormat.PNG, frozenset({"image/png", "image/x-png"}), frozenset({"PNG"})),
        FormatInfo(ImageFormat.GIF, frozenset({"image/gif"}), frozenset({"GIF"})),
        FormatInfo(
            ImageFormat.BMP,
            frozenset({"image/bmp", "image/x-bmp", "image/x-ms-bmp"}),
            frozenset({"BMP", "DIB"}),
        ),
        FormatInfo(ImageFormat.WEBP, frozenset({"image/webp"}), frozenset({"WEBP"})),
        FormatInfo(
            ImageFormat.ICO,
            frozenset({"image/x-icon", "image/vnd.microsoft.icon", "image/ico", "image/icon"}),
            frozenset({"ICO"}),
        ),
        FormatInfo(ImageFormat.TIFF, frozenset({"image/tiff", "image/tif"}), frozenset({"TIFF"})),
        FormatInfo(
            ImageFormat.HEIF,
            frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
            frozenset({"HEIF"}),
        ),
    )
}

# Declared types that say "some bytes" rather than naming a format: the sniffed format decides.
UNSPECIFIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

# ISO-BMFF brands of HEIC/HEIF stills and sequences (AVIF's 'avif'/'avis' deliberately absent).
HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)

AVIF_BRANDS = frozenset({b"avif", b"avis"})

ACCEPTED_FORMATS_TEXT = "JPEG, PNG, GIF, BMP, WEBP, ICO, TIFF, MPO, HEIC/HEIF"


def sniff_format(data: bytes) -> ImageFormat | None:
    """The format the magic bytes announce, or None when they announce no accepted format."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if head.startswith(b"BM") and len(head) >= 14:
        return ImageFormat.BMP
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return ImageFormat.ICO
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageFormat.TIFF
    if head[4:8] == b"ftyp" and _heif_brand(data):
        return ImageFormat.HEIF
    return None


def _heif_brand(data: bytes) -> bool:
    box_size = int.from_bytes(data[0:4], "big")
    if box_size < 16 or box_size > min(len(data), 4096):
        return False
    major = data[8:12]
    if major in HEIF_BRANDS:
        return True
    # 'mif1' alone is the generic image-file brand that AVIF files list too: it needs a HEVC
    # brand beside it.
    compatible = {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    return major not in AVIF_BRANDS and bool(compatible & (HEIF_BRANDS - {b"mif1", b"msf1"}))


def normalise_content_type(declared: str | None) -> str:
    """``"Image/JPEG; charset=x"`` → ``"image/jpeg"``."""
    return (declared or "").split(";", 1)[0].strip().lower()


def declared_type_agrees(declared: str | None, actual: ImageFormat) -> bool:
    content_type = normalise_content_type(declared)
    return content_type in UNSPECIFIC_CONTENT_TYPES or content_type in FORMATS[actual].content_types
