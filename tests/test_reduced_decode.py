"""Issue 17: photos decoded only as far as each use needs, boxes mapped back to the full
photo, and the annotated photo drawn on first use; the verdicts stay those of a full decode."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import shelfscan.pipeline as pipeline
from shelfscan.detection.base import DetectorInfo
from shelfscan.detections import Detections
from shelfscan.images import load_image
from shelfscan.imaging.decode import Photo
from shelfscan.pipeline import analyze_image, detect_photo
from shelfscan.planogram.azure_json import import_azure_planogram

ROOT = Path(__file__).resolve().parents[1]
# Bright rectangles on a dark photo, edges on multiples of 8 px (JPEG blocks): (x1, y1, x2, y2).
RECTANGLES = [(64, 128, 512, 640), (1024, 256, 1600, 1200), (200, 1400, 776, 1496)]
PHOTO_SIZE = (2048, 1536)


def _photo_bytes(orientation: int = 1, size: tuple[int, int] = PHOTO_SIZE) -> bytes:
    canvas = Image.new("RGB", size, (20, 30, 40))
    for box in RECTANGLES:
        canvas.paste((230, 220, 210), (box[0], box[1], box[2], box[3]))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    canvas.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


class _ThresholdDetector:
    """Finds the bright rectangles of the image it is given (in that image's pixels), and
    says which size it wants, like the YOLO detector."""

    info = DetectorInfo(backend="test", model_name="threshold")

    def __init__(self, long_side: int | None) -> None:
        self.long_side = long_side
        self.seen: list[tuple[int, int]] = []

    def input_long_side(self, width: int, height: int) -> int | None:
        return self.long_side

    def detect(self, image: Image.Image) -> Detections:
        self.seen.append(image.size)
        from scipy import ndimage

        bright = np.asarray(image.convert("L")) > 125
        labelled, _ = ndimage.label(bright)
        boxes = [
            (cols.start, rows.start, cols.stop, rows.stop)
            for rows, cols in ndimage.find_objects(labelled)
        ]
        boxes.sort()
        return Detections.build(
            boxes,
            ["product"] * len(boxes),
            [0.9] * len(boxes),
            image_width=image.width,
            image_height=image.height,
        )


@pytest.mark.parametrize("orientation", [1, 6, 3, 8])
def test_reduced_decode_gives_boxes_in_full_photo_pixels(orientation: int) -> None:
    data = _photo_bytes(orientation)
    full = _ThresholdDetector(None)
    reduced = _ThresholdDetector(400)  # 2048 / 4 = 512 ≥ 400 > 2048 / 8

    on_full = detect_photo(full, Photo(data))
    on_reduced = detect_photo(reduced, Photo(data))

    upright = load_image(data).size
    assert full.seen == [upright], "a detector that names no size gets every pixel"
    assert reduced.seen == [(-(-upright[0] // 4), -(-upright[1] // 4))], "decoded at 1/4"
    assert (on_reduced.image_width, on_reduced.image_height) == upright
    assert len(on_reduced) == len(on_full) == len(RECTANGLES)
    order_full = np.lexsort(on_full.xyxy.T[::-1])
    order_reduced = np.lexsort(on_reduced.xyxy.T[::-1])
    difference = np.abs(on_full.xyxy[order_full] - on_reduced.xyxy[order_reduced])
    assert difference.max() <= 1.0, difference


def test_photo_knows_its_upright_size_without_decoding_and_decodes_once() -> None:
    data = _photo_bytes(orientation=6)
    photo = Photo(data)
    assert photo.size == (PHOTO_SIZE[1], PHOTO_SIZE[0])
    assert photo.reduced(300).factor == 4  # 2048 / 8 = 256 < 300
    assert photo.reduced(300) is photo.reduced(500), "same scale: decoded once"
    assert photo.reduced(5000).image is photo.full()
    assert photo.full().size == load_image(data).size


def test_reduced_decode_is_the_full_photo_scaled() -> None:
    data = _photo_bytes(orientation=8)
    reduced = Photo(data).reduced(700)
    assert reduced.factor == 2
    expected = load_image(data).reduce(2)
    difference = np.abs(
        np.asarray(reduced.image, dtype=np.int16) - np.asarray(expected, dtype=np.int16)
    )
    assert difference.mean() < 2.0, "same picture, same way up"


def test_not_a_photo_is_a_clear_error() -> None:
    from shelfscan.images import ImageDecodeError

    with pytest.raises(ImageDecodeError, match="cannot decode"):
        Photo(b"not a jpeg at all")
    with pytest.raises(ImageDecodeError, match="empty"):
        Photo(b"")


def test_the_annotated_photo_is_drawn_on_first_use(azure_sample: Path, monkeypatch) -> None:
    planogram = import_azure_planogram(
        json.loads((azure_sample / "sample_planogram.json").read_text())
    )
    drawn: list[tuple[int, int]] = []
    real = pipeline.annotate_jpeg

    def counting(image: Image.Image, *args, **kwargs) -> bytes:
        drawn.append(image.size)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(pipeline, "annotate_jpeg", counting)
    photo = Photo(_photo_bytes(size=(3072, 2304)))
    analysis = analyze_image(photo, planogram, _ThresholdDetector(400))

    assert analysis.report.facings, "the report is complete before any picture"
    assert drawn == [], "nothing drawn before it is asked for"
    first = analysis.annotated_jpeg
    assert analysis.annotated_jpeg is first and len(drawn) == 1, "drawn once"
    assert "annotate" in analysis.report.timings_ms
    # Drawn on a reduced copy at least ANNOTATE_MIN_LONG_SIDE long, not on every pixel.
    assert max(drawn[0]) >= pipeline.ANNOTATE_MIN_LONG_SIDE
    assert drawn[0] != photo.size
    with Image.open(io.BytesIO(first)) as annotated:
        assert annotated.width == drawn[0][0]


def _verdicts(report) -> dict:
    return {
        "facings": {f.facing_id: f.status.value for f in report.facings},
        "conclusive": None if report.trust is None else report.trust.conclusive,
        "actions": [(a.kind.value, a.facing_ids) for a in report.actions],
    }


def test_same_verdicts_from_the_bytes_as_from_a_full_decode() -> None:
    """The demo drinks photo through the default detector (OpenVINO on the CPU): the report
    from the photo's bytes (decoded as far as the detector needs) is the full decode's."""
    pytest.importorskip("openvino")
    from shelfscan.planogram.loader import load_planogram_file
    from shelfscan.settings import Settings

    model = ROOT / "planograms" / "models" / "demo-store_openvino_model"
    photo_path = ROOT / "planograms" / "demo-store" / "photos" / "drinks.jpg"
    if not model.exists() or not photo_path.exists():
        pytest.skip("demo model or photo not found")
    analyzer = pipeline.Analyzer.from_settings(Settings(model_path=model, device="cpu"))
    planogram = load_planogram_file(ROOT / "planograms" / "demo-store" / "drinks.json")
    data = photo_path.read_bytes()

    from_bytes = analyzer(Photo(data), planogram).report
    from_full = analyzer(load_image(data), planogram).report

    assert _verdicts(from_bytes) == _verdicts(from_full)
    assert {f.status.value for f in from_bytes.facings} >= {"ok", "gap", "misplaced"}


def _textured_photo_bytes(size: tuple[int, int] = (1536, 2048)) -> bytes:
    """A noisy photo (every DCT coefficient in use), saved like a phone's JPEG."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    canvas = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    noisy = np.asarray(canvas, dtype=np.int16) + rng.integers(-20, 21, (size[1], size[0], 3))
    buffer = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_opencv_reduced_decode_is_pillows_pixel_for_pixel(factor: int) -> None:
    """The detector's copy is decoded by OpenCV into an array; Pillow's draft decode (the
    fallback, and what the annotated photo and quality check were tuned on) gives the same."""
    photo = Photo(_textured_photo_bytes())
    by_opencv = photo._decode_scaled_bgr(factor)
    assert by_opencv is not None, "a plain colour JPEG takes the OpenCV path"
    by_pillow = np.asarray(photo._decode_scaled(factor))[:, :, ::-1]
    np.testing.assert_array_equal(by_opencv, by_pillow)
    reduced = photo.reduced(max(photo.size) // factor)
    assert reduced.factor == factor
    np.testing.assert_array_equal(np.asarray(reduced.image)[:, :, ::-1], by_pillow)


def test_turned_or_cut_off_photos_are_decoded_by_pillow() -> None:
    turned = Photo(_photo_bytes(orientation=6))
    assert turned._decode_scaled_bgr(2) is None, "OpenCV would not turn it the same way"
    assert turned.reduced(700).bgr.shape == (1024, 768, 3), "upright all the same"

    data = _textured_photo_bytes()
    cut_off = Photo(data[: len(data) * 2 // 3])
    assert cut_off._decode_scaled_bgr(2) is None, "OpenCV would fill the missing part grey"
    from shelfscan.images import ImageDecodeError

    with pytest.raises(ImageDecodeError):
        cut_off.reduced(700)
