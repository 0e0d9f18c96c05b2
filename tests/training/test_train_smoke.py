"""A tiny CPU training run: seconds, offline, and the metadata it must leave behind."""

from __future__ import annotations

import json
import socket

import pytest

from shelfscan.synth.dataset import write_yolo_dataset
from shelfscan.synth.scene import SceneConfig
from shelfscan.training.export import (
    ExportDependencyError,
    ExportFormat,
    export_model,
    missing_modules,
)
from shelfscan.training.train import (
    SIDECAR_FORMAT,
    architecture_yaml,
    read_metadata,
    sidecar_path,
    train_detector,
)


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.training.conftest import tiny_planogram

    root = tmp_path_factory.mktemp("smoke")
    summary = write_yolo_dataset(
        [tiny_planogram()],
        root / "ds",
        images=6,
        val_fraction=0.34,
        config=SceneConfig(image_size=128),
        seed=5,
    )
    arch = architecture_yaml(root, width=0.0625, depth=0.33)
    epochs_seen: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse)
        patch.setattr(socket, "create_connection", _refuse)
        result = train_detector(
            summary.data_yaml,
            root / "run",
            model=arch,
            epochs=1,
            imgsz=128,
            batch=4,
            workers=0,
            progress=lambda e, n, m: epochs_seen.append(e),
        )
    return result, epochs_seen, summary


def _refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args[1:]!r}")


def test_tiny_training_run_records_metrics_and_label_map(trained):
    result, epochs_seen, _summary = trained
    assert result.weights.is_file()
    assert epochs_seen == [1]
    for value in (result.metrics.map50, result.metrics.map50_95, result.metrics.precision):
        assert 0.0 <= value <= 1.0
    assert "2 held-out renders" in result.metrics.evaluated_on
    sidecar = json.loads(sidecar_path(result.weights).read_text())
    assert sidecar["format"] == SIDECAR_FORMAT
    assert sidecar["classes"] == {
        "Cola 330ml": "cola",
        "Lemonade 330ml": "lemon",
        "Salt Chips": "chips",
    }
    assert sidecar["training"]["args"]["fliplr"] == 0.0
    assert sidecar["training"]["args"]["flipud"] == 0.0
    assert sidecar["training"]["args"]["max_det"] == 1000
    # The same record travels inside the checkpoint, for when the sidecar gets lost.
    sidecar_path(result.weights).unlink()
    assert read_metadata(result.weights)["classes"] == sidecar["classes"]


def test_trained_model_loads_offline_with_product_class_names(trained, no_network):
    from ultralytics import YOLO

    result, _, summary = trained
    model = YOLO(str(result.weights))
    assert list(model.names.values()) == [c.name for c in summary.classes]
    image = next((summary.out_dir / "images" / "val").glob("*.jpg"))
    prediction = model.predict(str(image), imgsz=128, device="cpu", verbose=False)[0]
    assert prediction.orig_shape[0] > 0


def test_resume_needs_an_existing_run(tmp_path, trained):
    _, _, summary = trained
    with pytest.raises(FileNotFoundError, match="resume"):
        train_detector(summary.data_yaml, tmp_path, resume=True)


def test_missing_local_weights_are_not_downloaded(tmp_path, trained, no_network):
    _, _, summary = trained
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        train_detector(summary.data_yaml, tmp_path, model=tmp_path / "yolov8n.pt")


def test_onnx_export_runs_or_names_the_missing_package(trained, no_network):
    result, _, _ = trained
    if missing_modules(ExportFormat.ONNX):
        with pytest.raises(ExportDependencyError, match="onnx"):
            export_model(result.weights, ExportFormat.ONNX)
        return
    import numpy as np
    import onnxruntime

    exported = export_model(result.weights, ExportFormat.ONNX, imgsz=128)
    session = onnxruntime.InferenceSession(str(exported))
    outputs = session.run(
        None, {session.get_inputs()[0].name: np.zeros((1, 3, 128, 128), np.float32)}
    )
    assert outputs[0].shape[0] == 1
    assert json.loads(sidecar_path(exported).read_text())["classes"]


def test_openvino_export_loads_through_the_detector_with_its_label_map(trained, no_network):
    pytest.importorskip("openvino", reason="OpenVINO export needs the openvino package")
    from PIL import Image

    from shelfscan.detection.factory import label_map_path_for
    from shelfscan.detection.yolo import YoloDetector
    from shelfscan.settings import Settings

    result, _, summary = trained
    exported = export_model(result.weights, ExportFormat.OPENVINO, imgsz=128)
    assert exported.is_dir() and exported.name.endswith("_openvino_model")
    detector = YoloDetector(exported, image_size=128, device="cpu")
    assert list(detector.info.class_names) == [c.name for c in summary.classes]
    image = Image.open(next((summary.out_dir / "images" / "val").glob("*.jpg")))
    detections = detector.detect(image)
    assert (detections.image_width, detections.image_height) == image.size
    settings = Settings(_env_file=None, model_path=exported)
    assert label_map_path_for(settings) == exported.parent / f"{exported.name}.labels.json"
