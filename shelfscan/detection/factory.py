"""Pick and build the configured detector, once per process.

Loading a YOLO model and warming it up takes seconds and hundreds of MB, so the detector is
built on first use and shared by every request and worker thread in the process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from shelfscan.detection.base import DEFAULT_GAP_CLASSES, Detector, DetectorConfigError
from shelfscan.detection.labels import LabelMap
from shelfscan.detection.slicing import SlicingConfig
from shelfscan.settings import DetectorBackend, Settings, get_settings

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Detector] = {}


def _cache_key(settings: Settings) -> tuple[Any, ...]:
    """Every setting the built detector depends on: two settings objects that differ in any
    of them get two detectors."""
    key = settings.customvision_prediction_key
    return (
        settings.detector_backend,
        str(settings.model_path),
        str(settings.label_map_path),
        settings.confidence_threshold,
        settings.max_detections,
        settings.image_size,
        settings.device,
        str(settings.replay_path),
        settings.customvision_endpoint,
        key.get_secret_value() if key is not None else None,
        settings.customvision_project_id,
        settings.customvision_iteration,
        settings.customvision_timeout_s,
        settings.customvision_max_retries,
        # Everything that shapes sliced inference (None: not sliced, so overlap is moot).
        slicing_for(settings),
    )


def label_map_path_for(settings: Settings) -> Path | None:
    """The configured label map, else the ``<model>.labels.json`` that ``shelfscan train``
    writes next to a YOLO model's weights."""
    if settings.label_map_path is not None:
        return settings.label_map_path
    if settings.detector_backend is DetectorBackend.YOLO:
        model = settings.model_path
        sidecar = model.parent / f"{model.stem if model.is_file() else model.name}.labels.json"
        if sidecar.is_file():
            return sidecar
    return None


def label_map_for(settings: Settings) -> LabelMap | None:
    path = label_map_path_for(settings)
    return LabelMap.load(path) if path is not None else None


def gap_classes_for(settings: Settings) -> frozenset[str]:
    label_map = label_map_for(settings)
    return DEFAULT_GAP_CLASSES if label_map is None else label_map.gap_classes


def slicing_for(settings: Settings) -> SlicingConfig | None:
    """Sliced inference, if the settings ask for it (``slice_tile_size`` > 0)."""
    tile = settings.slice_tile_size
    if not tile:
        return None
    return SlicingConfig(tile_size=int(tile), overlap=float(settings.slice_overlap))


def build_detector(settings: Settings) -> Detector:
    """A new detector for ``settings`` (uncached; prefer :func:`get_detector`)."""
    gap_classes = gap_classes_for(settings)
    backend = settings.detector_backend
    if backend is DetectorBackend.YOLO:
        from shelfscan.detection.yolo import YoloDetector

        return YoloDetector(
            settings.model_path,
            confidence_threshold=settings.confidence_threshold,
            max_detections=settings.max_detections,
            image_size=settings.image_size,
            device=settings.device,
            slicing=slicing_for(settings),
            gap_classes=gap_classes,
        )
    if backend is DetectorBackend.CUSTOMVISION:
        from shelfscan.detection.customvision import CustomVisionDetector

        return CustomVisionDetector.from_settings(settings, gap_classes=gap_classes)
    if backend is DetectorBackend.REPLAY:
        from shelfscan.detection.replay import ReplayDetector

        if settings.replay_path is None:
            raise DetectorConfigError(
                "detector backend 'replay' needs SHELFSCAN_REPLAY_PATH (a detections JSON file)"
            )
        return ReplayDetector(settings.replay_path, gap_classes=gap_classes)
    raise DetectorConfigError(f"unknown detector backend {backend!r}")  # pragma: no cover


def get_detector(settings: Settings | None = None) -> Detector:
    """The process-wide detector for these settings, built on first call."""
    settings = settings or get_settings()
    key = _cache_key(settings)
    with _lock:
        detector = _cache.get(key)
        if detector is None:
            detector = build_detector(settings)
            _cache[key] = detector
        return detector


def clear_detector_cache() -> None:
    """Forget built detectors (tests, or after the model file was replaced)."""
    with _lock:
        for detector in _cache.values():
            close = getattr(detector, "close", None)
            if callable(close):
                close()
        _cache.clear()
