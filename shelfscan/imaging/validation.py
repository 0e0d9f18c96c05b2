"""Upload validation: decide whether bytes from a phone are a photo shelfscan will analyse, and
produce the copy that is stored.

Checks run cheapest first so a bad upload costs little: size, magic bytes against the declared
type, the header's dimensions (a decompression bomb is refused before a single pixel is
decoded), whether the file's end is there, then one complete decode, which is what finds files
damaged in the middle. JPEGs are decoded at reduced scale (libjpeg's DCT scaling still reads
every byte of the scan data but skips most of the work).

Two entry points: :func:`precheck_photo` runs only the structural checks (well under a
millisecond for a 12 MP photo) and is what the upload answer waits for in the default "fast"
mode; :func:`validate_photo` runs everything, including the decode (~70–100 ms of CPU for a
12 MP JPEG), and makes the stored copy — the worker calls it before analysis in fast mode, the
upload route in "full" mode.

The stored copy is upright and carries no personal metadata: for a JPEG already upright the
metadata segments are cut out losslessly; anything else is decoded, rotated per its EXIF
orientation and re-encoded as JPEG.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from shelfscan.images import EXIF_ORIENTATION, exif_orientation, register_heif
from shelfscan.imaging.completeness import missing_end
from shelfscan.imaging.formats import (
    ACCEPTED_FORMATS_TEXT,
    FORMATS,
    ImageFormat,
    declared_type_agrees,
    normalise_content_type,
    sniff_format,
)
from shelfscan.imaging.jpeg_metadata import JpegStructureError, strip_jpeg_metadata
from shelfscan.services.errors import Invalid

register_heif()  # HEIC/HEIF straight from iPhones

MEGABYTE = 1024 * 1024
STORED_CONTENT_TYPE = "image/jpeg"
STORED_JPEG_QUALITY = 92

Reject = Callable[..., "UploadRejected"]


@dataclass(frozen=True)
class UploadLimits:
    """Azure AI Vision 4.0's limits by default, plus a pixel budget against decompression bombs."""

    max_bytes: int = 20 * MEGABYTE
    min_side: int = 50
    max_side: int = 16_000
    # 100 MP is twice a 48 MP phone sensor; a bigger canvas from a small file is a bomb.
    max_pixels: int = 100_000_000
    # The reduced decode used for checks and quality metrics.
    preview_long_side: int = 1024


class UploadRejected(Invalid, ValueError):
    """An upload that will not be stored: one of the service's errors (code, message, field,
    HTTP status), 422 unless the check says otherwise."""

    def __init__(
        self, code: str, message: str, *, field: str | None = None, status_code: int = 422
    ) -> None:
        super().__init__(code, message, field=field, http_status=status_code)


@dataclass(frozen=True)
class ValidatedPhoto:
    """A photo that passed every check, and its sanitised copy ready to store."""

    format: ImageFormat
    pillow_format: str
    width: int  # upright, i.e. after the EXIF orientation
    height: int
    orientation: int
    original_size: int
    stored_bytes: bytes
    stored_content_type: str
    sha256: str  # of stored_bytes
    removed_metadata: tuple[str, ...]
    preview: Image.Image = field(repr=False)  # upright RGB, long side ≈ preview_long_side
    field_name: str | None = None
    filename: str | None = None

    # stored_bytes are the sanitised copy, ready to keep.
    prepared: bool = field(default=True, init=False)


@dataclass(frozen=True)
class CheckedPhoto:
    """An upload that passed the structural checks; its bytes are still the phone's own
    (metadata included), so they are kept only until the worker has made the clean copy."""

    format: ImageFormat
    pillow_format: str
    width: int  # upright, i.e. after the EXIF orientation
    height: int
    orientation: int
    original_size: int
    stored_bytes: bytes
    stored_content_type: str  # the sniffed format's own type, not what the client claimed
    sha256: str  # of stored_bytes
    field_name: str | None = None
    filename: str | None = None

    # The stored bytes are not the sanitised copy yet: the worker must prepare them.
    prepared: bool = field(default=False, init=False)


def precheck_photo(
    data: bytes,
    declared_content_type: str | None,
    *,
    field_name: str | None = None,
    filename: str | None = None,
    limits: UploadLimits | None = None,
    sha256: str | None = None,
) -> CheckedPhoto:
    """The cheap checks only (no pixel decoded); raises :class:`UploadRejected`. ``sha256``:
    the bytes' digest where the caller has it already."""
    limits = limits or UploadLimits()
    reject = _rejecter(field_name, filename)
    image_format, opened = _open_checked(data, declared_content_type, limits, reject)
    with opened:
        width, height = opened.size
        orientation = exif_orientation(opened)
        pillow_format = opened.format or image_format.value.upper()
    cut_off = missing_end(data, image_format)
    if cut_off is not None:
        raise reject("truncated_image", f"the file is cut off ({cut_off})")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return CheckedPhoto(
        format=image_format,
        pillow_format=pillow_format,
        width=width,
        height=height,
        orientation=orientation,
        original_size=len(data),
        stored_bytes=data,
        stored_content_type=_canonical_content_type(image_format),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        field_name=field_name,
        filename=filename,
    )


def validate_photo(
    data: bytes,
    declared_content_type: str | None,
    *,
    field_name: str | None = None,
    filename: str | None = None,
    limits: UploadLimits | None = None,
) -> ValidatedPhoto:
    """Validate one uploaded photo; raises :class:`UploadRejected` naming what is wrong."""
    limits = limits or UploadLimits()
    reject = _rejecter(field_name, filename)
    image_format, opened = _open_checked(data, declared_content_type, limits, reject)
    with opened:
        width, height = opened.size
        orientation = exif_orientation(opened)
        preview = _decode_preview(opened, image_format, limits, reject)
        pillow_format = opened.format

    preview = ImageOps.exif_transpose(_with_orientation(preview, orientation)).convert("RGB")
    if orientation in (5, 6, 7, 8):
        width, height = height, width

    stored, removed = _sanitised_copy(data, image_format, orientation, reject)
    return ValidatedPhoto(
        format=image_format,
        pillow_format=pillow_format,
        width=width,
        height=height,
        orientation=orientation,
        original_size=len(data),
        stored_bytes=stored,
        stored_content_type=STORED_CONTENT_TYPE,
        sha256=hashlib.sha256(stored).hexdigest(),
        removed_metadata=tuple(removed),
        preview=preview,
        field_name=field_name,
        filename=filename,
    )


def _rejecter(field_name: str | None, filename: str | None) -> Reject:
    where = _where(field_name, filename)

    def reject(code: str, message: str, status_code: int = 422) -> UploadRejected:
        return UploadRejected(
            code, f"{where}: {message}", field=field_name, status_code=status_code
        )

    return reject


_CANONICAL_CONTENT_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.GIF: "image/gif",
    ImageFormat.BMP: "image/bmp",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.ICO: "image/x-icon",
    ImageFormat.TIFF: "image/tiff",
    ImageFormat.HEIF: "image/heif",
}


def _canonical_content_type(image_format: ImageFormat) -> str:
    return _CANONICAL_CONTENT_TYPES[image_format]


def _open_checked(
    data: bytes, declared_content_type: str | None, limits: UploadLimits, reject: Reject
) -> tuple[ImageFormat, Image.Image]:
    """Size, magic bytes, declared type, header and dimensions; the image is opened, not
    decoded (the caller closes it)."""
    if not data:
        raise reject("empty_file", "the file is empty (0 bytes)", 400)
    if len(data) > limits.max_bytes:
        raise reject(
            "file_too_large",
            f"{len(data) / MEGABYTE:.1f} MB is over the {limits.max_bytes // MEGABYTE} MB limit",
            413,
        )
    image_format = sniff_format(data)
    if image_format is None:
        declared = normalise_content_type(declared_content_type) or "no content type"
        raise reject(
            "unsupported_format",
            f"not an image in an accepted format ({declared}); accepted: {ACCEPTED_FORMATS_TEXT}",
            415,
        )
    if not declared_type_agrees(declared_content_type, image_format):
        raise reject(
            "content_type_mismatch",
            f"declared as {normalise_content_type(declared_content_type)!r} but the bytes are "
            f"{image_format.value.upper()}",
            415,
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone relaxed Pillow globally; truncation would pass
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")

    with warnings.catch_warnings():
        # shelfscan's own pixel budget below decides; Pillow's hard limit still applies.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as error:
            message = f"refused as a decompression bomb ({error})"
            raise reject("decompression_bomb", message, 413) from error
        except UnidentifiedImageError as error:
            message = f"cannot be read as {image_format.value}: {error}"
            raise reject("corrupt_image", message) from error
        except (OSError, SyntaxError, ValueError) as error:
            raise reject("corrupt_image", f"broken {image_format.value} header: {error}") from error

    try:
        if opened.format not in FORMATS[image_format].pillow_formats:
            raise reject(
                "corrupt_image",
                f"starts like {image_format.value} but decodes as {opened.format or 'nothing'}",
            )
        _check_dimensions(*opened.size, limits, reject)
    except BaseException:
        opened.close()
        raise
    return image_format, opened


def _where(field_name: str | None, filename: str | None) -> str:
    if field_name and filename:
        return f"{field_name} ({filename})"
    return field_name or filename or "photo"


def _check_dimensions(width: int, height: int, limits: UploadLimits, reject: Reject) -> None:
    if min(width, height) < limits.min_side:
        raise reject(
            "image_too_small",
            f"{width}×{height} px; each side must be at least {limits.min_side} px",
        )
    if max(width, height) > limits.max_side:
        raise reject(
            "image_too_large",
            f"{width}×{height} px; each side must be at most {limits.max_side:,} px",
        )
    if width * height > limits.max_pixels:
        raise reject(
            "decompression_bomb",
            f"declares {width}×{height} = {width * height / 1e6:.0f} MP, over the "
            f"{limits.max_pixels / 1e6:.0f} MP limit",
            413,
        )


def _decode_preview(
    opened: Image.Image, image_format: ImageFormat, limits: UploadLimits, reject: Reject
) -> Image.Image:
    """Decode every byte (finding truncation and corruption) into a small image."""
    long_side = limits.preview_long_side
    width, height = opened.size
    # Ask the JPEG decoder for at least 60 % of the preview size: it picks the coarsest DCT
    # scale (1/2, 1/4, 1/8) that still delivers that, which is most of the speed-up.
    scale = max(width, height) / (0.6 * long_side)
    try:
        if image_format is ImageFormat.JPEG and scale > 1:
            opened.draft("RGB", (max(1, round(width / scale)), max(1, round(height / scale))))
        opened.load()
        preview = opened.copy()
    except OSError as error:
        if "truncated" in str(error).lower() or "end of file" in str(error).lower():
            raise reject("truncated_image", f"the file is cut off ({error})") from error
        raise reject("corrupt_image", f"the image data is damaged ({error})") from error
    except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        raise reject("corrupt_image", f"the image data is damaged ({error})") from error
    if max(preview.size) > long_side:
        preview.thumbnail((long_side, long_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if preview.mode not in ("RGB", "L"):
        preview = _flatten(preview)
    return preview


def _with_orientation(image: Image.Image, orientation: int) -> Image.Image:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    image.info["exif"] = exif.tobytes()
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: a transparent PNG's hidden pixels must not decide what is analysed."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _sanitised_copy(
    data: bytes, image_format: ImageFormat, orientation: int, reject: Reject
) -> tuple[bytes, list[str]]:
    if image_format is ImageFormat.JPEG and orientation == 1:
        try:
            return strip_jpeg_metadata(data)
        except JpegStructureError as error:
            raise reject("corrupt_image", f"broken JPEG structure: {error}") from error
    try:
        with Image.open(io.BytesIO(data)) as opened:
            icc_profile = opened.info.get("icc_profile")
            had_exif = bool(opened.info.get("exif")) or len(opened.getexif()) > 0
            upright = ImageOps.exif_transpose(opened)
            rgb = upright.convert("RGB") if upright.mode in ("RGB", "L", "CMYK") else None
            rgb = rgb if rgb is not None else _flatten(upright)
    except OSError as error:
        raise reject("corrupt_image", f"the image data is damaged ({error})") from error
    # Pillow writes some of ``info`` back out (a JPEG comment, for one): start from nothing.
    rgb.info.clear()
    out = io.BytesIO()
    options = {"icc_profile": icc_profile} if icc_profile else {}
    rgb.save(out, "JPEG", quality=STORED_JPEG_QUALITY, **options)
    return out.getvalue(), (["exif"] if had_exif else [])
