from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from shelfscan.detection.base import DetectorConfigError, DetectorError
from shelfscan.detection.replay import (
    ReplayDetector,
    detections_from_document,
    detections_to_document,
)
from shelfscan.detections import Detections, DetectionsFormatError, ModelInfo
from shelfscan.settings import AZURE_SAMPLE_DIR as AZURE_SAMPLE

SAMPLE = AZURE_SAMPLE / "sample_customized_recognition_result.json"


def shelfscan_document() -> dict:
    detections = Detections.build(
        [[10, 20, 110, 220], [200, 20, 300, 220]],
        ["0006", "gap"],
        [0.9, 0.75],
        image_width=400,
        image_height=300,
        alternatives=[{"0006": 0.9, "0007": 0.05}, {"gap": 0.75}],
        model=ModelInfo("demo-store", "abc123"),
    )
    return detections_to_document(detections)


def test_shelfscan_format_round_trips():
    document = shelfscan_document()
    parsed = detections_from_document(json.loads(json.dumps(document)))
    np.testing.assert_allclose(parsed.xyxy, [[10, 20, 110, 220], [200, 20, 300, 220]])
    assert list(parsed.labels) == ["0006", "gap"]
    assert list(parsed.is_gap) == [False, True]
    assert parsed.alternatives[0] == {"0006": 0.9, "0007": 0.05}
    assert parsed.model == ModelInfo("demo-store", "abc123")
    assert detections_to_document(parsed) == document


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared Azure sample not present")
def test_azure_sample_result_replays_onto_the_photo():
    detector = ReplayDetector(SAMPLE)
    photo = Image.new("RGB", (2586, 3161))
    detections = detector.detect(photo)
    raw = json.loads(SAMPLE.read_text())
    assert len(detections.products) == len(raw["products"])
    assert len(detections.gaps) == len(raw["gaps"])
    first = raw["products"][0]["boundingBox"]
    np.testing.assert_allclose(
        detections.products.xyxy[0],
        [first["x"], first["y"], first["x"] + first["w"], first["y"] + first["h"]],
    )
    assert detector.info.backend == "replay"


def test_replay_scales_to_a_downscaled_copy_of_the_photo(tmp_path):
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(shelfscan_document()))
    detections = ReplayDetector(path).detect(Image.new("RGB", (200, 150)))
    np.testing.assert_allclose(detections.xyxy[0], [5, 10, 55, 110])
    assert (detections.image_width, detections.image_height) == (200, 150)


def test_replay_refuses_a_different_photo(tmp_path):
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(shelfscan_document()))
    with pytest.raises(DetectorError, match="400x300"):
        ReplayDetector(path).detect(Image.new("RGB", (300, 400)))


def test_replayed_detections_are_independent_copies():
    detector = ReplayDetector(shelfscan_document())
    first = detector.detect(Image.new("RGB", (400, 300)))
    first.xyxy[:] = 0
    second = detector.detect(Image.new("RGB", (400, 300)))
    assert second.xyxy.sum() > 0


def test_missing_replay_file_names_the_setting(tmp_path):
    with pytest.raises(DetectorConfigError, match="SHELFSCAN_REPLAY_PATH"):
        ReplayDetector(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["detections"][0].update(box=[5, 5, 1, 1]), r"detections\[0\].box"),
        (lambda d: d["detections"][1].update(kind="hole"), r"detections\[1\].kind"),
        (lambda d: d["detections"][0].update(confidence=3), r"detections\[0\].confidence"),
        (lambda d: d.update(image={"width": 0, "height": 3}), "image.width"),
        (lambda d: d.update(format="other/v9"), "format"),
    ],
)
def test_malformed_shelfscan_documents_name_the_field(mutate, message):
    document = shelfscan_document()
    mutate(document)
    with pytest.raises(DetectionsFormatError, match=message):
        detections_from_document(document)


def test_bad_replay_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"imageMetadata": {"width": 10, "height": 10}, "products": [{}]}))
    with pytest.raises(DetectorConfigError, match=r"bad\.json: products\[0\]"):
        ReplayDetector(path)
