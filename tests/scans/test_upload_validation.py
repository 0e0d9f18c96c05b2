"""Every accepted format passes; every listed bad input is refused with its own code."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image

from shelfscan.imaging import (
    ImageFormat,
    UploadLimits,
    UploadRejected,
    precheck_photo,
    sniff_format,
    validate_photo,
)
from shelfscan.imaging.completeness import missing_end
from shelfscan.imaging.jpeg_metadata import strip_jpeg_metadata
from tests.scans.photos import encode, jpeg_with_exif, png_bomb, png_header_only, shelf_scene

SCENE = shelf_scene(320, 240)


def _mpo(image: Image.Image) -> bytes:
    second = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (10.0, 0.0, 0.0)}
    return encode(image, "MPO", save_all=True, append_images=[second], exif=exif)


def _heic(image: Image.Image) -> bytes:
    return encode(image, "HEIF", quality=90)


ACCEPTED = {
    "jpeg": (lambda: encode(SCENE, "JPEG", quality=90), "image/jpeg", ImageFormat.JPEG),
    "png": (lambda: encode(SCENE, "PNG"), "image/png", ImageFormat.PNG),
    "gif": (lambda: encode(SCENE, "GIF"), "image/gif", ImageFormat.GIF),
    "bmp": (lambda: encode(SCENE, "BMP"), "image/bmp", ImageFormat.BMP),
    "webp": (lambda: encode(SCENE, "WEBP", quality=90), "image/webp", ImageFormat.WEBP),
    "ico": (
        lambda: encode(SCENE.resize((128, 96)), "ICO", sizes=[(128, 96)]),
        "image/x-icon",
        ImageFormat.ICO,
    ),
    "tiff": (lambda: encode(SCENE, "TIFF"), "image/tiff", ImageFormat.TIFF),
    "mpo": (lambda: _mpo(SCENE), "image/jpeg", ImageFormat.JPEG),
    "heic": (lambda: _heic(SCENE), "image/heic", ImageFormat.HEIF),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_every_accepted_format_validates_to_an_upright_clean_jpeg(name: str) -> None:
    make, content_type, expected_format = ACCEPTED[name]
    data = make()
    photo = validate_photo(data, content_type, field_name="photos")
    assert photo.format is expected_format
    expected_size = (128, 96) if name == "ico" else SCENE.size
    assert (photo.width, photo.height) == expected_size
    stored = Image.open(io.BytesIO(photo.stored_bytes))
    stored.load()
    assert stored.format == "JPEG" and stored.size == expected_size
    assert len(stored.getexif()) == 0
    # The stored pixels are the uploaded picture, not something else of the same size.
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((32, 24)), float)
    assert np.abs(np.asarray(stored.convert("RGB").resize((32, 24)), float) - reference).mean() < 12
    assert photo.preview.mode == "RGB" and max(photo.preview.size) <= 1024


def test_unspecific_content_type_is_decided_by_the_bytes() -> None:
    data = encode(SCENE, "PNG")
    for declared in (None, "", "application/octet-stream", "image/png; charset=binary"):
        assert validate_photo(data, declared).format is ImageFormat.PNG


def _rejection(data: bytes, content_type: str | None, **kw: object) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        validate_photo(data, content_type, field_name="photos", filename="shelf.jpg", **kw)  # type: ignore[arg-type]
    assert caught.value.field == "photos"
    assert "photos (shelf.jpg)" in caught.value.message
    return caught.value


def test_empty_body() -> None:
    error = _rejection(b"", "image/jpeg")
    assert (error.code, error.status_code) == ("empty_file", 400)


def test_file_over_20_mb() -> None:
    data = encode(SCENE, "JPEG") + b"\x00" * (20 * 1024 * 1024)
    error = _rejection(data, "image/jpeg")
    assert (error.code, error.status_code) == ("file_too_large", 413)
    assert "20 MB" in error.message


def test_content_type_that_lies() -> None:
    error = _rejection(encode(SCENE, "PNG"), "image/jpeg")
    assert (error.code, error.status_code) == ("content_type_mismatch", 415)
    assert "'image/jpeg'" in error.message and "PNG" in error.message


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
        (b"hello, this is text pretending to be a photo", "image/jpeg"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
    ],
    ids=["pdf", "text", "avif"],
)
def test_unsupported_format(data: bytes, content_type: str) -> None:
    error = _rejection(data, content_type)
    assert (error.code, error.status_code) == ("unsupported_format", 415)
    assert "JPEG, PNG, GIF, BMP, WEBP, ICO, TIFF, MPO, HEIC" in error.message


def test_side_under_50_px() -> None:
    error = _rejection(encode(SCENE.resize((49, 200)), "PNG"), "image/png")
    assert error.code == "image_too_small" and "49×200" in error.message


def test_side_over_16000_px_is_refused_from_the_header_alone() -> None:
    error = _rejection(png_header_only(16_001, 60), "image/png")
    assert error.code == "image_too_large" and "16,000" in error.message


@lru_cache(maxsize=1)
def _bomb() -> bytes:
    return png_bomb(12_000)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _bomb()
    assert len(data) < 1_000_000  # small on the wire …
    error = _rejection(data, "image/png")  # … 144 MP once decoded
    assert (error.code, error.status_code) == ("decompression_bomb", 413)
    assert "144 MP" in error.message


def test_pixel_budget_is_configurable() -> None:
    data = encode(SCENE, "PNG")
    error = _rejection(data, "image/png", limits=UploadLimits(max_pixels=320 * 240 - 1))
    assert error.code == "decompression_bomb"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_truncated_file(fmt: str) -> None:
    data = encode(shelf_scene(640, 480), fmt)
    error = _rejection(data[: len(data) * 2 // 3], None)
    assert error.code in {"truncated_image", "corrupt_image"}
    if fmt in {"JPEG", "PNG"}:
        assert error.code == "truncated_image"


def test_corrupt_file_with_valid_magic() -> None:
    good = encode(SCENE, "JPEG")
    broken = good[:4] + bytes(range(256)) * 8
    error = _rejection(broken, "image/jpeg")
    assert error.code == "corrupt_image"


def test_corrupt_png_chunk_checksum() -> None:
    data = bytearray(encode(SCENE, "PNG"))
    data[40] ^= 0xFF  # inside the first IDAT
    assert _rejection(bytes(data), "image/png").code in {"corrupt_image", "truncated_image"}


def test_exif_orientation_is_applied_and_personal_metadata_removed() -> None:
    # Stored sideways with orientation 6 ("rotate 90° clockwise to view"), as phones do.
    upright = shelf_scene(300, 200)
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    data = jpeg_with_exif(sideways, orientation=6)
    assert b"Jane Doe" in data and b"secret note" in data
    photo = validate_photo(data, "image/jpeg")
    assert (photo.width, photo.height) == (300, 200)
    stored = Image.open(io.BytesIO(photo.stored_bytes))
    assert stored.size == (300, 200)
    assert len(stored.getexif()) == 0
    assert b"Jane Doe" not in photo.stored_bytes and b"PhoneMaker" not in photo.stored_bytes
    assert b"secret note" not in photo.stored_bytes
    difference = np.abs(np.asarray(stored, float) - np.asarray(upright, float)).mean()
    assert difference < 8, "stored copy is not the upright picture"
    assert photo.preview.size[0] > photo.preview.size[1]


def test_upright_jpeg_is_stripped_losslessly() -> None:
    data = jpeg_with_exif(SCENE, orientation=1)
    photo = validate_photo(data, "image/jpeg")
    assert b"Jane Doe" not in photo.stored_bytes and b"secret note" not in photo.stored_bytes
    assert set(photo.removed_metadata) >= {"exif", "comment"}
    original = np.asarray(Image.open(io.BytesIO(data)))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(photo.stored_bytes))), original)
    assert photo.sha256 == __import__("hashlib").sha256(photo.stored_bytes).hexdigest()


def test_mpo_keeps_only_the_primary_frame_without_its_gps() -> None:
    data = _mpo(SCENE)
    stored, removed = strip_jpeg_metadata(data)
    assert "trailing data" in removed
    assert stored.count(b"\xff\xd8") == 1 or Image.open(io.BytesIO(stored)).format == "JPEG"
    reopened = Image.open(io.BytesIO(stored))
    assert reopened.format == "JPEG" and getattr(reopened, "n_frames", 1) == 1
    assert len(reopened.getexif()) == 0


def test_png_text_and_exif_chunks_are_not_carried_over() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    exif = Image.Exif()
    exif[0x013B] = "Jane Doe"
    data = encode(SCENE, "PNG", pnginfo=info, exif=exif)
    photo = validate_photo(data, "image/png")
    assert b"Jane Doe" not in photo.stored_bytes


# Fast mode's structural checks ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_precheck_accepts_every_format_and_keeps_the_bytes_for_the_worker(name: str) -> None:
    make, content_type, expected_format = ACCEPTED[name]
    data = make()
    checked = precheck_photo(data, content_type, field_name="photos")
    assert checked.format is expected_format and checked.prepared is False
    assert checked.stored_bytes is data  # not decoded, not re-encoded: that is the worker's job
    assert (checked.width, checked.height) == ((128, 96) if name == "ico" else SCENE.size)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert sniff_format(data) is expected_format
    assert checked.stored_content_type.startswith("image/")


def test_precheck_reports_upright_dimensions() -> None:
    sideways = shelf_scene(300, 200).transpose(Image.Transpose.ROTATE_90)
    checked = precheck_photo(jpeg_with_exif(sideways, orientation=6), "image/jpeg")
    assert (checked.width, checked.height, checked.orientation) == (300, 200, 6)


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (b"", "image/jpeg", "empty_file"),
        (b"\xff\xd8\xff" + b"\x00" * (20 * 1024 * 1024), "image/jpeg", "file_too_large"),
        (encode(SCENE, "PNG"), "image/jpeg", "content_type_mismatch"),
        (b"%PDF-1.7\n1 0 obj", "application/pdf", "unsupported_format"),
        (encode(SCENE.resize((49, 200)), "PNG"), "image/png", "image_too_small"),
        (png_header_only(16_001, 60), "image/png", "image_too_large"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "image/jpeg", "corrupt_image"),
    ],
    ids=["empty", "over-20-mb", "lying-type", "pdf", "small", "large", "corrupt-header"],
)
def test_precheck_refuses_what_the_header_already_shows(
    data: bytes, content_type: str, code: str
) -> None:
    with pytest.raises(UploadRejected) as caught:
        precheck_photo(data, content_type, field_name="photos")
    assert caught.value.code == code
    assert caught.value.code == _rejection(data, content_type).code  # full mode agrees


def test_precheck_refuses_a_bomb_from_its_header() -> None:
    with pytest.raises(UploadRejected) as caught:
        precheck_photo(_bomb(), "image/png")
    assert (caught.value.code, caught.value.status_code) == ("decompression_bomb", 413)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "HEIF"])
def test_precheck_finds_a_cut_off_end(fmt: str) -> None:
    data = encode(shelf_scene(640, 480), fmt)
    with pytest.raises(UploadRejected) as caught:
        precheck_photo(data[: len(data) * 2 // 3], None, field_name="photos")
    assert caught.value.code in {"truncated_image", "corrupt_image"}
    if fmt not in {"WEBP"}:  # Pillow already refuses a WEBP that short at open
        assert caught.value.code == "truncated_image"


def test_precheck_finds_a_cut_off_ico() -> None:
    data = encode(SCENE.resize((128, 96)), "ICO", sizes=[(128, 96)])
    assert missing_end(data, ImageFormat.ICO) is None
    assert "runs to byte" in (missing_end(data[:-100], ImageFormat.ICO) or "")


def test_precheck_passes_data_appended_after_a_complete_jpeg() -> None:
    """Motion photos append a video after the JPEG's end; padding is common too."""
    data = encode(SCENE, "JPEG")
    for tail in (b"\x00" * 64, b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 5000):
        assert precheck_photo(data + tail, "image/jpeg").format is ImageFormat.JPEG


def test_damage_in_the_middle_passes_the_precheck_and_fails_the_full_check() -> None:
    """The boundary between the modes: only a full decode sees damaged scan data."""
    good = encode(shelf_scene(640, 480), "JPEG", quality=90)
    third = len(good) // 3
    damaged = good[:third] + b"\xff\x55" * 50 + good[third + 100 :]
    assert precheck_photo(damaged, "image/jpeg").format is ImageFormat.JPEG
    assert _rejection(damaged, "image/jpeg").code == "corrupt_image"
