from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
from PIL import Image

from shelfscan.detection.base import DetectorConfigError, ModelLoadError, ModelNotFoundError
from shelfscan.detection.slicing import SlicingConfig
from shelfscan.detection.yolo import YoloDetector, model_format
from tests.detection.onnx_builder import constant_detector_output, write_constant_detector
from tests.detection.tiny_models import write_tiny_pt

NAMES = {0: "cola-330ml", 1: "chips-150g", 2: "gap"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Loading and running a model must not touch the network at all."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory):
    return write_tiny_pt(tmp_path_factory.mktemp("models") / "tiny.pt", NAMES)


@pytest.fixture(scope="module")
def constant_onnx(tmp_path_factory):
    # Network-input pixels (320x320 letterbox): a cola box, a gap box, and a 0.2 cola box.
    output = constant_detector_output(
        [[160, 160, 80, 40], [60, 60, 40, 40], [250, 250, 20, 20]],
        [[0.9, 0.0, 0.0], [0.0, 0.0, 0.7], [0.2, 0.0, 0.0]],
        anchors=2100,
    )
    path = tmp_path_factory.mktemp("models") / "constant.onnx"
    return write_constant_detector(path, output, names=NAMES, imgsz=320)


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_pt_model_reads_class_names_and_returns_boxes_in_photo_pixels(tiny_pt):
    detector = YoloDetector(tiny_pt, image_size=320, confidence_threshold=0.0001)
    assert detector.info.class_names == ("cola-330ml", "chips-150g", "gap")
    assert detector.info.backend == "yolo" and detector.info.device == "cpu"
    assert len(detector.info.model_version) == 12

    detections = detector.detect(noise(800, 600))

    assert (detections.image_width, detections.image_height) == (800, 600)
    assert len(detections) > 0
    assert detections.xyxy.shape == (len(detections), 4)
    assert set(detections.labels) <= set(NAMES.values())
    assert (detections.xyxy[:, [0, 2]] >= 0).all() and (detections.xyxy[:, [0, 2]] <= 800).all()
    assert (detections.xyxy[:, [1, 3]] >= 0).all() and (detections.xyxy[:, [1, 3]] <= 600).all()
    assert (detections.xyxy[:, 2] > detections.xyxy[:, 0]).all()
    np.testing.assert_array_equal(detections.is_gap, detections.labels == "gap")
    assert detections.model.name == "tiny"
    assert detections.timings_ms["total"] > 0


def test_max_detections_beyond_ultralytics_default_of_300(tiny_pt):
    many = YoloDetector(
        tiny_pt, image_size=640, confidence_threshold=0.0001, max_detections=1000
    ).detect(noise(640, 640))
    assert len(many) > 300

    capped = YoloDetector(
        tiny_pt, image_size=640, confidence_threshold=0.0001, max_detections=25, warmup=False
    ).detect(noise(640, 640))
    assert len(capped) == 25


def test_onnx_boxes_are_scaled_back_to_the_original_photo(constant_onnx):
    detector = YoloDetector(constant_onnx, image_size=1024, confidence_threshold=0.25)
    assert detector.info.details["format"] == "onnx"
    assert detector.image_size == 320  # a static export only takes the size it was exported at
    assert detector.info.class_names == ("cola-330ml", "chips-150g", "gap")

    detections = detector.detect(noise(800, 600))

    # 800x600 → 320x240 letterboxed into 320x320 (scale 0.4, 40 px pad top and bottom).
    order = np.argsort(-detections.confidence)
    np.testing.assert_allclose(detections.xyxy[order], [[300, 250, 500, 350], [100, 0, 200, 100]])
    assert list(detections.labels[order]) == ["cola-330ml", "gap"]
    assert list(detections.is_gap[order]) == [False, True]
    np.testing.assert_allclose(detections.confidence[order], [0.9, 0.7], rtol=1e-6)


def test_concurrent_requests_get_identical_answers(constant_onnx):
    detector = YoloDetector(constant_onnx)
    photo = noise(800, 600)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(detector.detect(photo).xyxy)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    for xyxy in results:
        np.testing.assert_array_equal(xyxy, results[0])


def test_sliced_inference_covers_a_large_photo_and_merges_duplicates(constant_onnx):
    slicing = SlicingConfig(tile_size=320, overlap=0.25, min_image_side=500)
    detector = YoloDetector(constant_onnx, slicing=slicing, confidence_threshold=0.25)
    detections = detector.detect(noise(1200, 900))
    assert detections.timings_ms["tiles"] == 20  # 5 columns x 4 rows of 320 px tiles
    assert (detections.image_width, detections.image_height) == (1200, 900)
    assert (detections.xyxy[:, [0, 2]] <= 1200).all() and (detections.xyxy[:, [1, 3]] <= 900).all()
    # Every tile reports one cola and one gap box; after merging no two kept boxes are duplicates.
    from shelfscan.detection.slicing import overlaps

    for i in range(len(detections)):
        iou, ios = overlaps(detections.xyxy[i], np.delete(detections.xyxy, i, axis=0))
        assert (iou < 0.5).all() and (ios < 0.8).all()
    assert {"cola-330ml", "gap"} <= set(detections.labels)


def test_small_photos_are_not_sliced(constant_onnx):
    slicing = SlicingConfig(tile_size=320, min_image_side=2000)
    detections = YoloDetector(constant_onnx, slicing=slicing).detect(noise(800, 600))
    assert "tiles" not in detections.timings_ms
    assert len(detections) == 2


def test_missing_model_names_the_path_and_how_to_get_one(tmp_path):
    missing = tmp_path / "yolov8n.pt"  # a name ultralytics would otherwise try to download
    with pytest.raises(ModelNotFoundError) as error:
        YoloDetector(missing)
    assert str(missing) in str(error.value)
    assert "export" in str(error.value) and "train" in str(error.value)
    assert error.value.path == missing


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_corrupt_model_is_a_load_error_naming_the_path(tmp_path, suffix):
    corrupt = tmp_path / f"broken{suffix}"
    corrupt.write_bytes(b"\x00not a model at all" * 50)
    with pytest.raises(ModelLoadError) as error:
        YoloDetector(corrupt)
    assert str(corrupt) in str(error.value)


def test_unsupported_format_is_rejected(tmp_path):
    weights = tmp_path / "model.h5"
    weights.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"\.pt, \.onnx or an OpenVINO folder"):
        model_format(weights)


def test_openvino_folder_is_recognised(tmp_path):
    folder = tmp_path / "shelf_openvino_model"
    folder.mkdir()
    (folder / "shelf.xml").write_text("<net/>")
    assert model_format(folder) == "openvino"


def test_openvino_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    # A None entry in sys.modules makes `import openvino` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "openvino", None)
    folder = tmp_path / "shelf_openvino_model"
    folder.mkdir()
    (folder / "shelf.xml").write_text("<net/>")
    with pytest.raises(DetectorConfigError, match="'openvino' package is not installed"):
        YoloDetector(folder)


@pytest.fixture(scope="module")
def exported_models(tiny_pt, tmp_path_factory):
    """The tiny model exported by ultralytics itself to ONNX and OpenVINO (offline, CPU)."""
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package")
    pytest.importorskip("openvino", reason="OpenVINO export needs the openvino package")
    import shutil

    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("exported")
    source = shutil.copy(tiny_pt, folder / "tiny.pt")
    model = YOLO(str(source))
    onnx_path = model.export(format="onnx", imgsz=320, simplify=False, verbose=False)
    openvino_dir = YOLO(str(source)).export(format="openvino", imgsz=320, verbose=False)
    return {"pt": source, "onnx": onnx_path, "openvino": openvino_dir}


def test_onnx_and_openvino_exports_load_and_agree(exported_models):
    from pathlib import Path

    image = noise(640, 480, seed=3)
    runs = {}
    for kind in ("onnx", "openvino"):
        path = Path(exported_models[kind])
        assert model_format(path) == kind
        detector = YoloDetector(path, image_size=320, confidence_threshold=0.0001, device="cpu")
        assert detector.info.class_names == ("cola-330ml", "chips-150g", "gap")
        runs[kind] = detector.detect(image)
    onnx_run, openvino_run = runs["onnx"], runs["openvino"]
    assert (onnx_run.image_width, onnx_run.image_height) == (640, 480)
    assert len(onnx_run) > 0, "random weights at this threshold always give boxes"
    assert (onnx_run.xyxy[:, [0, 1]] >= 0).all() and (onnx_run.xyxy[:, 2] <= 640).all()
    # The same exported network in two runtimes: the strongest box lands in the same place.
    top_onnx = onnx_run.xyxy[np.argmax(onnx_run.confidence)]
    top_openvino = openvino_run.xyxy[np.argmax(openvino_run.confidence)]
    assert np.allclose(top_onnx, top_openvino, atol=2.0), (top_onnx, top_openvino)
    assert (
        onnx_run.labels[np.argmax(onnx_run.confidence)]
        == openvino_run.labels[np.argmax(openvino_run.confidence)]
    )


def test_gpu_requested_without_one_is_a_config_error(constant_onnx):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DetectorConfigError, match="no CUDA GPU"):
        YoloDetector(constant_onnx, device="cuda:0")


def test_auto_device_falls_back_to_cpu(constant_onnx):
    import torch

    detector = YoloDetector(constant_onnx, device="auto", warmup=False)
    assert detector.info.device == ("cuda:0" if torch.cuda.is_available() else "cpu")


def test_openvino_export_runs_directly_with_ultralytics_boxes(exported_models):
    """Random weights at a tiny threshold: hundreds of overlapping boxes, so NMS and the
    max_det cap are exercised, and the direct runner must match ultralytics box for box."""
    from pathlib import Path

    path = Path(exported_models["openvino"])
    options = {"image_size": 320, "confidence_threshold": 0.0001, "max_detections": 50}
    direct = YoloDetector(path, **options)
    reference = YoloDetector(path, **options, direct_openvino=False)
    assert direct.info.details["runner"] == "openvino-direct"
    assert reference.info.details["runner"] == "ultralytics"
    for image in (noise(640, 480, seed=5), noise(333, 777, seed=6)):
        got, expected = direct.detect(image), reference.detect(image)
        assert len(got) == len(expected) == 50
        assert list(got.labels) == list(expected.labels)
        np.testing.assert_allclose(got.xyxy, expected.xyxy, rtol=0, atol=1e-3)
        np.testing.assert_allclose(got.confidence, expected.confidence, rtol=0, atol=1e-5)
