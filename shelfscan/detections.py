"""The one detections type every detection backend converts into.

Boxes are pixels of the original (EXIF-rotated) image, ``x1, y1, x2, y2`` with the origin at the
top-left. Arrays rather than lists of objects so that geometry work stays vectorised, in the way
``supervision.Detections`` does it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GAP_LABEL = "gap"
# Class names that mean "empty shelf" unless a label map says otherwise.
DEFAULT_GAP_CLASSES: frozenset[str] = frozenset({GAP_LABEL})
KIND_PRODUCT = "product"
KIND_GAP = "gap"


class DetectionsFormatError(ValueError):
    """A detections document is malformed; the message names the offending field."""


@dataclass(frozen=True)
class ModelInfo:
    name: str = "unknown"
    version: str = ""


@dataclass
class Detections:
    xyxy: np.ndarray  # (N, 4) float64
    labels: np.ndarray  # (N,) object (str)
    confidence: np.ndarray  # (N,) float64
    is_gap: np.ndarray  # (N,) bool
    ids: np.ndarray  # (N,) object (str)
    image_width: int
    image_height: int
    # Ranked alternative labels per box (label -> confidence), when the detector gives them.
    alternatives: list[dict[str, float]] = field(default_factory=list)
    model: ModelInfo = field(default_factory=ModelInfo)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float64).reshape(n, 4)
        self.labels = np.asarray(self.labels, dtype=object).reshape(n)
        self.confidence = np.asarray(self.confidence, dtype=np.float64).reshape(n)
        self.is_gap = np.asarray(self.is_gap, dtype=bool).reshape(n)
        self.ids = np.asarray(self.ids, dtype=object).reshape(n)
        if self.alternatives and len(self.alternatives) != n:
            raise ValueError("alternatives must have one entry per box")

    @classmethod
    def empty(cls, image_width: int, image_height: int) -> Detections:
        return cls.build([], [], [], image_width=image_width, image_height=image_height)

    @classmethod
    def build(
        cls,
        xyxy: Sequence[Sequence[float]] | np.ndarray,
        labels: Sequence[str],
        confidence: Sequence[float] | np.ndarray,
        *,
        image_width: int,
        image_height: int,
        is_gap: Sequence[bool] | np.ndarray | None = None,
        ids: Sequence[str] | None = None,
        alternatives: list[dict[str, float]] | None = None,
        model: ModelInfo | None = None,
    ) -> Detections:
        n = len(labels)
        labels_arr = np.asarray(list(labels), dtype=object).reshape(n)
        gap_mask = (
            np.asarray(is_gap, dtype=bool)
            if is_gap is not None
            else np.array([label == GAP_LABEL for label in labels_arr], dtype=bool)
        )
        return cls(
            xyxy=np.asarray(xyxy, dtype=np.float64).reshape(n, 4),
            labels=labels_arr,
            confidence=np.asarray(confidence, dtype=np.float64).reshape(n),
            is_gap=gap_mask,
            ids=np.asarray(
                list(ids) if ids is not None else [str(i) for i in range(n)], dtype=object
            ),
            image_width=int(image_width),
            image_height=int(image_height),
            alternatives=alternatives or [],
            model=model or ModelInfo(),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | Sequence[int]) -> Detections:
        """Select boxes with a boolean mask, an index array or a slice."""
        idx = np.arange(len(self))[index]
        return Detections(
            xyxy=self.xyxy[idx],
            labels=self.labels[idx],
            confidence=self.confidence[idx],
            is_gap=self.is_gap[idx],
            ids=self.ids[idx],
            image_width=self.image_width,
            image_height=self.image_height,
            alternatives=[self.alternatives[i] for i in idx] if self.alternatives else [],
            model=self.model,
            timings_ms=dict(self.timings_ms),
        )

    @property
    def products(self) -> Detections:
        return self[~self.is_gap]

    @property
    def gaps(self) -> Detections:
        return self[self.is_gap]

    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def centers(self) -> np.ndarray:
        return np.column_stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2]
        )

    # --- Azure product recognition result (``imageMetadata``/``products``/``gaps``) ---

    @classmethod
    def from_azure_result(cls, document: Mapping[str, Any]) -> Detections:
        """Parse an Azure product-recognition ``result`` (or a whole run object holding one).

        Accepts ``tags: [{name, confidence}]`` as the service sent and
        ``classifications: [{label, confidence}]`` as the conceptual docs show.
        """
        if not isinstance(document, Mapping):
            raise DetectionsFormatError("detections: expected a JSON object")
        if "result" in document and isinstance(document["result"], Mapping):
            document = document["result"]
        meta = document.get("imageMetadata")
        if not isinstance(meta, Mapping):
            raise DetectionsFormatError("imageMetadata: missing or not an object")
        width, height = (
            _positive_int(meta, "width", "imageMetadata"),
            _positive_int(meta, "height", "imageMetadata"),
        )
        boxes: list[list[float]] = []
        labels: list[str] = []
        scores: list[float] = []
        gap_flags: list[bool] = []
        ids: list[str] = []
        alternatives: list[dict[str, float]] = []
        for section, section_is_gap in (("products", False), ("gaps", True)):
            items = document.get(section, [])
            if items is None:
                items = []
            if not isinstance(items, list):
                raise DetectionsFormatError(f"{section}: expected a list")
            for index, item in enumerate(items):
                where = f"{section}[{index}]"
                if not isinstance(item, Mapping):
                    raise DetectionsFormatError(f"{where}: expected an object")
                box = item.get("boundingBox")
                if not isinstance(box, Mapping):
                    raise DetectionsFormatError(f"{where}.boundingBox: missing or not an object")
                x, y, w, h = (_finite(box, key, f"{where}.boundingBox") for key in "xywh")
                if w <= 0 or h <= 0:
                    raise DetectionsFormatError(f"{where}.boundingBox: w and h must be positive")
                ranked = _ranked_tags(item, where)
                if section_is_gap and not ranked:
                    ranked = {GAP_LABEL: 1.0}
                if not ranked:
                    raise DetectionsFormatError(f"{where}: no tags or classifications")
                top_label, top_score = next(iter(ranked.items()))
                is_gap_box = section_is_gap or top_label == GAP_LABEL
                boxes.append([x, y, x + w, y + h])
                labels.append(GAP_LABEL if is_gap_box else top_label)
                scores.append(top_score)
                gap_flags.append(is_gap_box)
                ids.append(str(item.get("id", f"{section}-{index}")))
                alternatives.append(ranked)
        return cls.build(
            boxes,
            labels,
            scores,
            image_width=width,
            image_height=height,
            is_gap=gap_flags,
            ids=ids,
            alternatives=alternatives,
        )

    def to_azure_result(self) -> dict[str, Any]:
        """Render as an Azure product-recognition ``result`` object (integer pixels)."""

        def item(i: int) -> dict[str, Any]:
            x1, y1, x2, y2 = self.xyxy[i]
            ranked = self.alternatives[i] if self.alternatives else {}
            if not ranked:
                ranked = {str(self.labels[i]): float(self.confidence[i])}
            return {
                "id": str(self.ids[i]),
                "boundingBox": {
                    "x": round(x1),
                    "y": round(y1),
                    "w": round(x2 - x1),
                    "h": round(y2 - y1),
                },
                "tags": [{"name": name, "confidence": float(c)} for name, c in ranked.items()],
            }

        return {
            "imageMetadata": {"width": self.image_width, "height": self.image_height},
            "products": [item(i) for i in np.flatnonzero(~self.is_gap)],
            "gaps": [item(i) for i in np.flatnonzero(self.is_gap)],
        }


def _positive_int(mapping: Mapping[str, Any], key: str, where: str) -> int:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise DetectionsFormatError(f"{where}.{key}: expected a positive number, got {value!r}")
    return int(value)


def _finite(mapping: Mapping[str, Any], key: str, where: str) -> float:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DetectionsFormatError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


def _ranked_tags(item: Mapping[str, Any], where: str) -> dict[str, float]:
    """Tags sorted by confidence, highest first."""
    pairs: list[tuple[str, float]] = []
    for key, name_key in (("tags", "name"), ("classifications", "label")):
        entries = item.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise DetectionsFormatError(f"{where}.{key}: expected a list")
        for j, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get(name_key), str):
                raise DetectionsFormatError(f"{where}.{key}[{j}].{name_key}: expected a string")
            confidence = entry.get("confidence", 1.0)
            if isinstance(confidence, bool) or not isinstance(confidence, int | float):
                raise DetectionsFormatError(f"{where}.{key}[{j}].confidence: expected a number")
            pairs.append((entry[name_key], float(confidence)))
    pairs.sort(key=lambda p: -p[1])
    ranked: dict[str, float] = {}
    for name, confidence in pairs:
        ranked.setdefault(name, confidence)
    return ranked
