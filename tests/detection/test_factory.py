from __future__ import annotations

import json

import pytest

from shelfscan.detection.base import DetectorConfigError, ModelNotFoundError
from shelfscan.detection.customvision import CustomVisionDetector
from shelfscan.detection.factory import build_detector, clear_detector_cache, get_detector
from shelfscan.detection.replay import ReplayDetector
from shelfscan.settings import Settings


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_detector_cache()
    yield
    clear_detector_cache()


def replay_settings(tmp_path, **extra) -> Settings:
    path = tmp_path / "replay.json"
    path.write_text(
        json.dumps(
            {
                "imageMetadata": {"width": 100, "height": 50},
                "products": [
                    {"boundingBox": {"x": 1, "y": 2, "w": 3, "h": 4}, "tags": [{"name": "hole"}]}
                ],
            }
        )
    )
    return Settings(_env_file=None, detector_backend="replay", replay_path=path, **extra)


def test_detector_is_built_once_per_process(tmp_path):
    settings = replay_settings(tmp_path)
    first = get_detector(settings)
    assert isinstance(first, ReplayDetector)
    assert get_detector(settings) is first
    assert get_detector(settings.model_copy(update={"confidence_threshold": 0.5})) is not first


def test_label_map_gap_classes_reach_the_backend(tmp_path):
    label_map = tmp_path / "labels.json"
    label_map.write_text(json.dumps({"classes": {}, "gap_classes": ["hole"]}))
    detector = build_detector(replay_settings(tmp_path, label_map_path=label_map))
    from PIL import Image

    assert detector.detect(Image.new("RGB", (100, 50))).is_gap.tolist() == [True]


def test_replay_without_a_path_is_a_config_error():
    with pytest.raises(DetectorConfigError, match="SHELFSCAN_REPLAY_PATH"):
        build_detector(Settings(_env_file=None, detector_backend="replay"))


def test_yolo_with_missing_model_names_the_path(tmp_path):
    settings = Settings(_env_file=None, detector_backend="yolo", model_path=tmp_path / "m.pt")
    with pytest.raises(ModelNotFoundError, match=r"m\.pt"):
        get_detector(settings)


def test_customvision_is_built_from_settings():
    settings = Settings(
        _env_file=None,
        detector_backend="customvision",
        customvision_endpoint="https://example.cognitiveservices.azure.com/",
        customvision_prediction_key="k",
        customvision_project_id="p",
        customvision_iteration="published",
    )
    detector = build_detector(settings)
    assert isinstance(detector, CustomVisionDetector)
    assert detector.url == (
        "https://example.cognitiveservices.azure.com/customvision/v3.0/Prediction/p/detect/"
        "iterations/published/image/nostore"
    )


def test_every_slicing_setting_is_part_of_the_cache_key(tmp_path):
    sliced = replay_settings(tmp_path, slice_tile_size=640, slice_overlap=0.25)
    first = get_detector(sliced)
    assert get_detector(sliced.model_copy()) is first
    assert get_detector(sliced.model_copy(update={"slice_overlap": 0.4})) is not first
    assert get_detector(sliced.model_copy(update={"slice_tile_size": 800})) is not first
    # Not sliced: the overlap shapes nothing, so it does not split the cache.
    whole = replay_settings(tmp_path, slice_tile_size=0, slice_overlap=0.1)
    assert get_detector(whole.model_copy(update={"slice_overlap": 0.3})) is get_detector(whole)
