"""Replay backend: detections read from JSON instead of computed.

For tests, demos and users who run their own detector. Two formats are read:

* the Azure product-recognition ``result`` (or a whole run object holding one), as the retired
  service and the official samples wrote it;
* shelfscan's own, which keeps the kind, the ranked alternatives and the model that made it::

    {"format": "shelfscan.detections/v1",
     "image": {"width": 4000, "height": 3000},
     "model": {"name": "demo-store", "version": "3f2a…"},
     "detections": [{"id": "0", "box": [x1, y1, x2, y2], "label": "0006",
                     "confidence": 0.91, "kind": "product", "alternatives": {"0006": 0.91}}]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shelfscan.detection.base import (
    DEFAULT_GAP_CLASSES,
    DetectorConfigError,
    DetectorError,
    DetectorInfo,
    gap_mask,
)
from shelfscan.detections import (
    KIND_GAP,
    KIND_PRODUCT,
    Detections,
    DetectionsFormatError,
    ModelInfo,
)

SHELFSCAN_FORMAT = "shelfscan.detections/v1"
# A replayed file made on a downscaled copy of the photo is fine; a different photo is not.
ASPECT_TOLERANCE = 0.02


def detections_to_document(detections: Detections) -> dict[str, Any]:
    """Serialise to shelfscan's own replay format (lossless apart from float rounding)."""
    items = []
    for i in range(len(detections)):
        item: dict[str, Any] = {
            "id": str(detections.ids[i]),
            "box": [round(float(v), 3) for v in detections.xyxy[i]],
            "label": str(detections.labels[i]),
            "confidence": round(float(detections.confidence[i]), 6),
            "kind": KIND_GAP if detections.is_gap[i] else KIND_PRODUCT,
        }
        if detections.alternatives:
            item["alternatives"] = {k: float(v) for k, v in detections.alternatives[i].items()}
        items.append(item)
    return {
        "format": SHELFSCAN_FORMAT,
        "image": {"width": detections.image_width, "height": detections.image_height},
        "model": {"name": detections.model.name, "version": detections.model.version},
        "detections": items,
    }


def detections_from_document(
    document: Any, *, gap_classes: frozenset[str] = DEFAULT_GAP_CLASSES
) -> Detections:
    """Parse either format; raises :class:`DetectionsFormatError` naming the bad field."""
    if not isinstance(document, Mapping):
        raise DetectionsFormatError("detections: expected a JSON object")
    if document.get("format") == SHELFSCAN_FORMAT or "detections" in document:
        return _from_shelfscan(document, gap_classes)
    detections = Detections.from_azure_result(document)
    extra_gaps = np.asarray(gap_mask([str(x) for x in detections.labels], gap_classes), dtype=bool)
    if extra_gaps.any():
        detections.is_gap = detections.is_gap | extra_gaps
    return detections


def _from_shelfscan(document: Mapping[str, Any], gap_classes: frozenset[str]) -> Detections:
    fmt = document.get("format", SHELFSCAN_FORMAT)
    if fmt != SHELFSCAN_FORMAT:
        raise DetectionsFormatError(f"format: expected {SHELFSCAN_FORMAT!r}, got {fmt!r}")
    image = document.get("image")
    if not isinstance(image, Mapping):
        raise DetectionsFormatError("image: missing or not an object")
    width, height = (_positive(image.get(key), f"image.{key}") for key in ("width", "height"))
    items = document.get("detections")
    if not isinstance(items, list):
        raise DetectionsFormatError("detections: expected a list")
    boxes, labels, scores, gaps, ids, alternatives = [], [], [], [], [], []
    for index, item in enumerate(items):
        where = f"detections[{index}]"
        if not isinstance(item, Mapping):
            raise DetectionsFormatError(f"{where}: expected an object")
        box = item.get("box")
        if not isinstance(box, list) or len(box) != 4 or not all(_is_finite_number(v) for v in box):
            raise DetectionsFormatError(f"{where}.box: expected [x1, y1, x2, y2] numbers")
        x1, y1, x2, y2 = (float(v) for v in box)
        if x2 <= x1 or y2 <= y1:
            raise DetectionsFormatError(f"{where}.box: x2 > x1 and y2 > y1 required, got {box}")
        label = item.get("label")
        if not isinstance(label, str) or not label:
            raise DetectionsFormatError(f"{where}.label: expected a non-empty string")
        confidence = item.get("confidence", 1.0)
        if not _is_finite_number(confidence) or not 0.0 <= float(confidence) <= 1.0:
            raise DetectionsFormatError(f"{where}.confidence: expected a number in [0, 1]")
        kind = item.get("kind")
        if kind not in (None, KIND_PRODUCT, KIND_GAP):
            raise DetectionsFormatError(f"{where}.kind: expected 'product' or 'gap', got {kind!r}")
        ranked = item.get("alternatives") or {label: float(confidence)}
        if not isinstance(ranked, Mapping) or not all(
            isinstance(k, str) and _is_finite_number(v) for k, v in ranked.items()
        ):
            raise DetectionsFormatError(f"{where}.alternatives: expected {{label: confidence}}")
        is_gap = kind == KIND_GAP if kind is not None else gap_mask([label], gap_classes)[0]
        boxes.append([x1, y1, x2, y2])
        labels.append(label)
        scores.append(float(confidence))
        gaps.append(is_gap)
        ids.append(str(item.get("id", index)))
        alternatives.append(dict(sorted(ranked.items(), key=lambda kv: -float(kv[1]))))
    model = document.get("model") or {}
    if not isinstance(model, Mapping):
        raise DetectionsFormatError("model: expected an object")
    return Detections.build(
        boxes,
        labels,
        scores,
        image_width=width,
        image_height=height,
        is_gap=gaps,
        ids=ids,
        alternatives=alternatives,
        model=ModelInfo(str(model.get("name", "replay")), str(model.get("version", ""))),
    )


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any, where: str) -> int:
    if not _is_finite_number(value) or value <= 0:
        raise DetectionsFormatError(f"{where}: expected a positive number, got {value!r}")
    return int(value)


def rescale_to_image(detections: Detections, width: int, height: int) -> Detections:
    """Scale boxes made on a same-aspect copy of the photo onto a ``width`` × ``height`` image."""
    if (width, height) == (detections.image_width, detections.image_height):
        return detections
    source_aspect = detections.image_width / detections.image_height
    if abs(width / height - source_aspect) / source_aspect > ASPECT_TOLERANCE:
        raise DetectorError(
            f"replayed detections were made on a {detections.image_width}x"
            f"{detections.image_height} image but the photo is {width}x{height} "
            "(different aspect ratio: a different photo?)"
        )
    sx, sy = width / detections.image_width, height / detections.image_height
    scaled = detections[np.arange(len(detections))]
    scaled.xyxy = detections.xyxy * np.array([sx, sy, sx, sy])
    scaled.image_width, scaled.image_height = width, height
    return scaled


class ReplayDetector:
    """Returns the same recorded detections for every photo, scaled to that photo's size."""

    def __init__(
        self,
        source: Path | str | Mapping[str, Any],
        *,
        gap_classes: frozenset[str] = DEFAULT_GAP_CLASSES,
    ) -> None:
        if isinstance(source, Mapping):
            document, origin = source, "<document>"
        else:
            path = Path(source)
            origin = str(path)
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError as error:
                raise DetectorConfigError(
                    f"replay file not found: {path} (set SHELFSCAN_REPLAY_PATH to a detections "
                    "JSON file: an Azure product-recognition result or shelfscan's own format)"
                ) from error
            except (OSError, json.JSONDecodeError) as error:
                raise DetectorConfigError(
                    f"replay file {path}: not readable JSON ({error})"
                ) from error
        try:
            self._detections = detections_from_document(document, gap_classes=gap_classes)
        except DetectionsFormatError as error:
            raise DetectorConfigError(f"replay file {origin}: {error}") from error
        name = self._detections.model.name
        self._info = DetectorInfo(
            backend="replay",
            model_name=name if name not in ("", "unknown") else Path(origin).stem,
            model_version=self._detections.model.version,
            class_names=tuple(sorted({str(x) for x in self._detections.labels})),
            details={"source": origin},
        )

    @property
    def info(self) -> DetectorInfo:
        return self._info

    def detect(self, image: Image.Image) -> Detections:
        detections = rescale_to_image(self._detections, image.width, image.height)
        if detections is self._detections:
            detections = detections[np.arange(len(detections))]  # callers may mutate their copy
        detections.model = ModelInfo(self._info.model_name, self._info.model_version)
        detections.timings_ms = {"inference": 0.0, "total": 0.0}
        return detections
