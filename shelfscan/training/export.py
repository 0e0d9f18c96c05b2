"""Export trained weights to ONNX or OpenVINO with ultralytics, keeping the label sidecar.

Both exporters need packages the base install lacks (``onnx``; ``openvino``). They are checked
first so that a missing one is a clear error instead of ultralytics trying to pip-install it.
"""

from __future__ import annotations

import importlib.util
import json
from enum import StrEnum
from pathlib import Path

from shelfscan.offline import import_ultralytics
from shelfscan.training.train import read_metadata, sidecar_path


class ExportFormat(StrEnum):
    ONNX = "onnx"
    OPENVINO = "openvino"


REQUIRED_MODULES: dict[ExportFormat, tuple[str, ...]] = {
    ExportFormat.ONNX: ("onnx",),
    ExportFormat.OPENVINO: ("openvino", "onnx"),
}


class ExportDependencyError(RuntimeError):
    """An exporter's Python package is not installed."""


def missing_modules(export_format: ExportFormat | str) -> list[str]:
    return [
        m
        for m in REQUIRED_MODULES[ExportFormat(export_format)]
        if importlib.util.find_spec(m) is None
    ]


def export_model(
    weights: Path | str,
    export_format: ExportFormat | str = ExportFormat.ONNX,
    *,
    imgsz: int | None = None,
    half: bool = False,
    dynamic: bool = False,
) -> Path:
    """Export ``weights`` (.pt) next to itself; returns the ONNX file or OpenVINO folder.

    ``imgsz`` defaults to the training image size. The class -> product sidecar is copied to
    ``<export>.labels.json`` so the exported model is as usable as the checkpoint.
    """
    weights = Path(weights)
    export_format = ExportFormat(export_format)
    if not weights.is_file():
        raise FileNotFoundError(f"weights: {weights} does not exist")
    missing = missing_modules(export_format)
    if missing:
        raise ExportDependencyError(
            f"{export_format.value} export needs the Python package(s) {', '.join(missing)}, "
            f"which are not installed (pip install {' '.join(missing)})"
        )
    import_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    if imgsz is None:
        imgsz = int(model.ckpt.get("train_args", {}).get("imgsz", 640)) if model.ckpt else 640
    # Only the ONNX exporter takes ``simplify``; the OpenVINO one refuses unknown arguments.
    options = {"simplify": False} if export_format is ExportFormat.ONNX else {}
    exported = Path(
        model.export(
            format=export_format.value,
            imgsz=imgsz,
            half=half,
            dynamic=dynamic,
            verbose=False,
            **options,
        )
    )
    try:
        record = read_metadata(weights)
    except FileNotFoundError:
        record = None
    if record is not None:
        target = (
            exported.with_name(f"{exported.name}.labels.json")
            if exported.is_dir()
            else sidecar_path(exported)
        )
        target.write_text(json.dumps(record, indent=1, default=str))
    return exported
