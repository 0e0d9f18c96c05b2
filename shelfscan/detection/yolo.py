"""Local YOLO detection through ultralytics: ``.pt`` weights, an ``.onnx`` export or an OpenVINO
``*_openvino_model`` folder.

Never downloads anything: ultralytics is switched offline before import, and a model path that
does not exist is an error here, before ultralytics could treat a bare name such as
``yolov8n.pt`` as something to fetch. Loaded once, warmed up once, then shared: calls are
serialised with a lock because an ultralytics predictor keeps per-call state.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shelfscan.detection.base import (
    DEFAULT_GAP_CLASSES,
    DetectorConfigError,
    DetectorInfo,
    ModelLoadError,
    ModelNotFoundError,
    gap_mask,
)
from shelfscan.detection.openvino_direct import DirectOpenVino, direct_model_problem
from shelfscan.detection.slicing import SlicingConfig, cut_by_window_edge, merge_boxes, tile_windows
from shelfscan.detections import Detections, ModelInfo
from shelfscan.offline import import_ultralytics  # before anything imports ultralytics

os.environ.setdefault("YOLO_AUTOINSTALL", "false")
log = logging.getLogger(__name__)

TRAIN_OR_EXPORT_HINT = (
    "Train one with `shelfscan train` (synthetic renders of your packshots), or export an "
    "existing one with `yolo export model=best.pt format=onnx` (or format=openvino), then point "
    "SHELFSCAN_MODEL_PATH at the .pt, the .onnx or the *_openvino_model folder. shelfscan never "
    "downloads weights."
)

# A reduced copy at least this many times the input size: the models are trained on
# full-resolution renders scaled down by ultralytics' bilinear letterbox, whose aliasing a
# DCT-reduced copy smooths away. At 2× the demo photos decode in full (same boxes) and an
# 8-12 MP photo at 1/2 scale; at 1× (1/4 scale) 2 of the demo bays' 144 facings changed
# status, both away from the truth (benchmarks/chain_speed.py --margin 1). Re-measured with
# the direct OpenVINO runner: at 1× the reports of all four demo photos change (decoded at
# 1/2) and 382 instead of 384 of 417 facing statuses are right; and it would save little on
# a phone photo, whose decode is mostly libjpeg's serial entropy decoding whatever the scale
# (Azure sample: ≈ 31 ms at 1/2, ≈ 29 ms at 1/4).
REDUCED_DECODE_MARGIN = 2.0

FORMAT_PT = "pt"
FORMAT_ONNX = "onnx"
FORMAT_OPENVINO = "openvino"


def model_format(path: Path) -> str:
    """Which of the supported formats ``path`` is; raises naming the path if none."""
    if not path.exists():
        raise ModelNotFoundError(path, TRAIN_OR_EXPORT_HINT)
    if path.is_dir():
        if path.name.endswith("_openvino_model") or any(path.glob("*.xml")):
            return FORMAT_OPENVINO
        raise ModelLoadError(
            path, "a folder, but not an OpenVINO export (no *.xml inside)", TRAIN_OR_EXPORT_HINT
        )
    suffix = path.suffix.lower()
    if suffix == ".pt":
        return FORMAT_PT
    if suffix == ".onnx":
        return FORMAT_ONNX
    raise ModelLoadError(
        path, f"unsupported model format {suffix!r}; expected .pt, .onnx or an OpenVINO folder"
    )


def model_fingerprint(path: Path) -> str:
    """Short content hash: the model version shown in reports, stable across copies."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def resolve_device(device: str) -> str:
    """``auto`` → first CUDA GPU if there is one, else CPU; an explicit GPU must exist."""
    import torch

    wanted = (device or "cpu").strip().lower()
    if wanted == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if (wanted.startswith("cuda") or wanted.isdigit()) and not torch.cuda.is_available():
        raise DetectorConfigError(
            f"SHELFSCAN_DEVICE={device!r} but no CUDA GPU is available; use 'cpu' or 'auto'"
        )
    return wanted


class YoloDetector:
    def __init__(
        self,
        model_path: Path | str,
        *,
        confidence_threshold: float = 0.25,
        iou_threshold: float = 0.6,
        max_detections: int = 1000,
        image_size: int | None = None,
        device: str = "cpu",
        slicing: SlicingConfig | None = None,
        class_agnostic_nms: bool = True,
        gap_classes: frozenset[str] = DEFAULT_GAP_CLASSES,
        warmup: bool = True,
        direct_openvino: bool = True,
    ) -> None:
        """``direct_openvino=False`` keeps a plain OpenVINO export on ultralytics' predictor
        (the direct runner's reference in tests and benchmarks)."""
        self.model_path = Path(model_path)
        self.format = model_format(self.model_path)
        self.confidence_threshold = confidence_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.slicing = slicing
        self.class_agnostic_nms = class_agnostic_nms
        self.gap_classes = gap_classes
        self.device = resolve_device(device)
        self._allow_direct = direct_openvino
        self._lock = threading.Lock()
        self._model = self._load()
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}
        self._fixed_size = self._fixed_input_size()
        self.image_size = self._fixed_size or image_size or self._trained_size() or 640
        self._direct = self._direct_openvino()
        self._info = DetectorInfo(
            backend="yolo",
            model_name=self.model_path.stem.removesuffix("_openvino_model"),
            model_version=model_fingerprint(self.model_path),
            class_names=tuple(self.class_names[k] for k in sorted(self.class_names)),
            device=self.device,
            image_size=self.image_size,
            details={
                "format": self.format,
                "path": str(self.model_path),
                "runner": "openvino-direct" if self._direct is not None else "ultralytics",
            },
        )
        if warmup:
            self._warmup()

    def _load(self) -> Any:
        if self.format == FORMAT_OPENVINO:
            try:
                import openvino  # noqa: F401
            except ImportError as error:
                raise DetectorConfigError(
                    f"{self.model_path} is an OpenVINO model but the 'openvino' package is not "
                    "installed; install it or point SHELFSCAN_MODEL_PATH at the .onnx export"
                ) from error
        if self.format == FORMAT_ONNX:
            try:
                import onnxruntime  # noqa: F401
            except ImportError as error:  # pragma: no cover - declared dependency
                raise DetectorConfigError("ONNX models need the 'onnxruntime' package") from error
        import_ultralytics()
        from ultralytics import YOLO
        from ultralytics.utils import checks

        checks.AUTOINSTALL = False  # never pip-install at run time, even if imported earlier
        try:
            model = YOLO(str(self.model_path), task="detect")
            # For exports, reading the names opens the runtime session: a corrupt file fails here.
            names = model.names
        except Exception as error:
            raise ModelLoadError(
                self.model_path, f"{type(error).__name__}: {error}", TRAIN_OR_EXPORT_HINT
            ) from error
        task = getattr(model, "task", "detect")
        if task != "detect":
            raise ModelLoadError(
                self.model_path,
                f"it is a {task!r} model; shelfscan needs an object-detection ('detect') model",
            )
        if not names:
            raise ModelLoadError(self.model_path, "the model carries no class names")
        return model

    def _trained_size(self) -> int | None:
        """The image size a ``.pt`` model was trained at: objects appear at the scale it
        learned, which matters more than resolution for a detector trained on whole bays."""
        overrides = getattr(self._model, "overrides", None) or {}
        size = overrides.get("imgsz")
        return int(max(size)) if isinstance(size, list | tuple) else (int(size) if size else None)

    def _export_metadata(self) -> dict[str, Any]:
        """ultralytics' metadata of an export (``args`` and ``imgsz`` parsed)."""
        from ultralytics.nn.backends.base import BaseBackend

        metadata = dict(BaseBackend.read_metadata(self.model_path) or {})
        for key in ("args", "imgsz"):
            if isinstance(metadata.get(key), str):
                metadata[key] = ast.literal_eval(metadata[key])
        metadata["args"] = metadata.get("args") or {}
        return metadata

    def _fixed_input_size(self) -> int | None:
        """Exports without dynamic shapes only accept the size they were exported at."""
        if self.format == FORMAT_PT:
            return None
        metadata = self._export_metadata()
        imgsz = metadata.get("imgsz")
        if imgsz and not metadata["args"].get("dynamic", False):
            return int(max(imgsz)) if isinstance(imgsz, list | tuple) else int(imgsz)
        return None

    def _direct_openvino(self) -> DirectOpenVino | None:
        """The OpenVINO model run without ultralytics' predictor (same boxes, ≈ 11 ms less per
        photo: ``shelfscan.detection.openvino_direct``) when it is a plain export on the CPU
        (fixed-size, fed the square; or dynamic-shape, fed a rectangle fitted to the photo, as
        ultralytics feeds it); None keeps ultralytics' path (and logs why)."""
        if not self._allow_direct or self.format != FORMAT_OPENVINO or self.device != "cpu":
            return None
        try:
            metadata = self._export_metadata()
            dynamic = bool(metadata["args"].get("dynamic"))
            xml = (
                self.model_path
                if self.model_path.is_file()
                else next(self.model_path.glob("*.xml"))
            )
            problem = direct_model_problem(metadata, xml, self.image_size)
            if problem is None:
                stride = int(metadata.get("stride") or 32) if dynamic else None
                return DirectOpenVino(xml, self.image_size, stride)
        except Exception as error:
            # ultralytics' path then opens it, and a broken export fails there as a
            # ModelLoadError naming the file (the warm-up), as it always did.
            problem = f"{type(error).__name__}: {error}"
        log.info("OpenVINO model %s runs through ultralytics: %s", self.model_path, problem)
        return None

    def _warmup(self) -> None:
        # Exported models are only opened by ultralytics on the first prediction, so a corrupt
        # .onnx surfaces here: report it as a load error naming the file, like a corrupt .pt.
        blank = np.full((self.image_size, self.image_size, 3), 114, dtype=np.uint8)
        try:
            with self._lock:
                self._predict_array(blank, self.image_size)
        except Exception as error:
            raise ModelLoadError(
                self.model_path, f"{type(error).__name__}: {error}", TRAIN_OR_EXPORT_HINT
            ) from error

    @property
    def info(self) -> DetectorInfo:
        return self._info

    def input_long_side(self, width: int, height: int) -> int | None:
        """The long side a photo of ``width`` × ``height`` needs to have for this detector,
        which scales every photo down to ``image_size`` anyway: a reduced copy of at least
        this size (``shelfscan.imaging.decode``) is decoded instead of every pixel. None when
        slicing applies: tiles look at full-resolution pixels."""
        if self.slicing is not None and self.slicing.applies_to(width, height):
            return None
        return round(REDUCED_DECODE_MARGIN * self.image_size)

    def _predict_array(
        self, bgr: np.ndarray, image_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        if self._direct is not None and image_size == self._direct.image_size:
            return self._direct.predict(
                bgr,
                confidence_threshold=self.confidence_threshold,
                iou_threshold=self.iou_threshold,
                max_detections=self.max_detections,
                class_agnostic_nms=self.class_agnostic_nms,
            )
        return self._predict_ultralytics(bgr, image_size)

    def _predict_ultralytics(
        self, bgr: np.ndarray, image_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        result = self._model.predict(
            source=bgr,
            imgsz=image_size,
            conf=self.confidence_threshold,
            iou=self.iou_threshold,
            max_det=self.max_detections,
            agnostic_nms=self.class_agnostic_nms,
            device=self.device,
            half=False,
            verbose=False,
        )[0]
        boxes = result.boxes
        return (
            boxes.xyxy.cpu().numpy().astype(np.float64),
            boxes.conf.cpu().numpy().astype(np.float64),
            boxes.cls.cpu().numpy().astype(np.int64),
            {k: float(v) for k, v in (result.speed or {}).items()},
        )

    def detect(self, image: Image.Image) -> Detections:
        started = time.perf_counter()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # ultralytics takes arrays as BGR
        return self._detect(bgr, started)

    def detect_bgr(self, bgr: np.ndarray) -> Detections:
        """:meth:`detect` on an upright ``(height, width, 3)`` uint8 array in BGR order (what
        OpenCV decodes to: ``shelfscan.imaging.decode.ReducedImage.bgr``), without a Pillow
        image in between."""
        return self._detect(bgr, time.perf_counter())

    def _detect(self, bgr: np.ndarray, started: float) -> Detections:
        height, width = bgr.shape[:2]
        with self._lock:
            if self.slicing is not None and self.slicing.applies_to(width, height):
                xyxy, scores, classes, speed = self._detect_sliced(bgr, self.slicing)
            else:
                xyxy, scores, classes, speed = self._predict_array(bgr, self.image_size)
        labels = [self.class_names.get(int(c), str(int(c))) for c in classes]
        detections = Detections.build(
            xyxy,
            labels,
            scores,
            image_width=width,
            image_height=height,
            is_gap=gap_mask(labels, self.gap_classes),
            alternatives=[{label: float(s)} for label, s in zip(labels, scores, strict=True)],
            model=ModelInfo(self._info.model_name, self._info.model_version),
        )
        detections.timings_ms = {**speed, "total": (time.perf_counter() - started) * 1000}
        return detections

    def _detect_sliced(
        self, bgr: np.ndarray, slicing: SlicingConfig
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        height, width = bgr.shape[:2]
        windows = tile_windows(width, height, slicing.tile_size, slicing.overlap)
        all_boxes, all_scores, all_classes, all_cut = [], [], [], []
        speed: dict[str, float] = {"tiles": float(len(windows))}
        tile_size = self._fixed_size or slicing.tile_size
        for window in windows:
            x1, y1, x2, y2 = (int(v) for v in window)
            boxes, scores, classes, tile_speed = self._predict_array(
                np.ascontiguousarray(bgr[y1:y2, x1:x2]), tile_size
            )
            boxes = boxes + np.array([x1, y1, x1, y1], dtype=np.float64)
            all_boxes.append(boxes)
            all_scores.append(scores)
            all_classes.append(classes)
            all_cut.append(cut_by_window_edge(boxes, window, width, height, slicing.edge_margin_px))
            for key, value in tile_speed.items():
                speed[key] = speed.get(key, 0.0) + value
        if slicing.include_full_image:
            boxes, scores, classes, _ = self._predict_array(bgr, self.image_size)
            all_boxes.append(boxes)
            all_scores.append(scores)
            all_classes.append(classes)
            all_cut.append(np.zeros(len(boxes), dtype=bool))
        xyxy = np.concatenate(all_boxes).reshape(-1, 4)
        scores = np.concatenate(all_scores)
        classes = np.concatenate(all_classes)
        keep = merge_boxes(
            xyxy,
            scores,
            cut=np.concatenate(all_cut),
            classes=None if self.class_agnostic_nms else classes,
            iou_threshold=slicing.iou_threshold,
            containment_threshold=slicing.containment_threshold,
        )
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self.max_detections]
        return xyxy[keep], scores[keep], classes[keep], speed
