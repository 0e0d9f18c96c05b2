from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from shelfscan.detection.base import DetectorInfo
from shelfscan.detection.labels import LabelMap
from shelfscan.detections import Detections
from shelfscan.images import load_image, register_heif
from shelfscan.pipeline import analyze_detections, analyze_image
from shelfscan.planogram.azure_json import import_azure_planogram


def test_label_map_translates_classes_and_reports_those_naming_no_product(
    azure_sample: Path,
) -> None:
    planogram = import_azure_planogram(
        json.loads((azure_sample / "sample_planogram.json").read_text())
    )
    detections = Detections.from_azure_result(
        json.loads((azure_sample / "sample_customized_recognition_result.json").read_text())
    )
    detections.alternatives = []  # only the renamed top labels count
    renamed = {"Triscuit Crackers": "tris-plain", "Chicken In A Biskit Crackers": "mystery"}
    detections.labels = np.array([renamed.get(x, x) for x in detections.labels], dtype=object)
    label_map = LabelMap.from_document({"classes": {"tris-plain": "0007", "price-tag": None}})

    analysis = analyze_detections(
        Image.new("RGB", (detections.image_width, detections.image_height)),
        planogram,
        detections,
        label_map=label_map,
    )

    report = analysis.report
    assert report.detector_labels is not None
    assert report.detector_labels.resolved["tris-plain"] == "0007"
    assert report.detector_labels.unmapped == {"mystery": 5}
    triscuit = [f for f in report.facings if f.product_id == "0007"]
    assert [f.status.value for f in triscuit] == ["ok"]
    biskit = [f for f in report.facings if f.product_id == "0001"]
    assert {f.status.value for f in biskit} != {"ok"}, "unmapped boxes must not count as found"
    assert (
        sum(u.label == "mystery" for u in report.unexpected)
        + sum(f.found_label == "mystery" for f in report.facings)
        == 5
    ), "every unmapped box is still in the report"


def test_a_few_boxes_of_other_bays_products_are_info_but_a_label_map_naming_none_warns(
    azure_sample: Path, caplog
) -> None:
    """A store-wide model sees the neighbouring bays' products at a photo's edges: that is
    normal and must not fill the log with warnings. Most boxes naming no product of the bay
    (a wrong label map or planogram) is worth an operator's attention."""
    planogram = import_azure_planogram(
        json.loads((azure_sample / "sample_planogram.json").read_text())
    )
    detections = Detections.from_azure_result(
        json.loads((azure_sample / "sample_customized_recognition_result.json").read_text())
    )
    detections.alternatives = []
    image = Image.new("RGB", (detections.image_width, detections.image_height))
    labels = list(detections.labels)

    def unmapped_records(renamed: dict[int, str]) -> list[logging.LogRecord]:
        detections.labels = np.array(
            [renamed.get(i, label) for i, label in enumerate(labels)], dtype=object
        )
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="shelfscan.pipeline"):
            analyze_detections(image, planogram, detections, label_map=LabelMap.from_document({}))
        return [r for r in caplog.records if "not products of planogram" in r.getMessage()]

    products = [i for i, label in enumerate(labels) if label not in ("gap", "void")]
    a_neighbours = unmapped_records({i: "neighbouring-bay-product" for i in products[:3]})
    assert [r.levelno for r in a_neighbours] == [logging.INFO]
    assert "3 box(es)" in a_neighbours[0].getMessage()

    wrong_map = unmapped_records({i: f"class-{i % 7}" for i in products})
    assert [r.levelno for r in wrong_map] == [logging.WARNING]
    assert wrong_map[0].resolved_boxes == 0


class _RecordingDetector:
    """Records the image it is given; finds nothing."""

    info = DetectorInfo(backend="test", model_name="recording")

    def __init__(self) -> None:
        self.seen: list[Image.Image] = []

    def detect(self, image: Image.Image) -> Detections:
        self.seen.append(image)
        return Detections.empty(image.width, image.height)


def _portrait_photo_stored_as_landscape() -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90°: the upright photo is portrait
    Image.new("RGB", (400, 300), (200, 200, 200)).save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_the_photo_is_turned_upright_once(azure_sample: Path) -> None:
    planogram = import_azure_planogram(
        json.loads((azure_sample / "sample_planogram.json").read_text())
    )
    data = _portrait_photo_stored_as_landscape()

    loaded = load_image(data)
    detector = _RecordingDetector()
    analyze_image(loaded, planogram, detector)
    assert detector.seen[0] is loaded, "an upright photo is analysed as it is, not copied"
    assert loaded.size == (300, 400)

    raw = Image.open(io.BytesIO(data))  # a caller that did not use load_image
    analyze_image(raw, planogram, detector)
    assert detector.seen[1].size == (300, 400)


def test_heif_photos_open() -> None:
    assert register_heif() is True
    assert ".heic" in Image.registered_extensions()
