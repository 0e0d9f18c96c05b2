"""What a worker runs on each photo: the analysis pipeline, behind a small seam.

``Analyzer`` is any callable ``(upright RGB photo, planogram) -> analysis`` where the analysis
has ``.report`` (a pydantic model or a dict) and ``.annotated_jpeg`` (bytes). The default is
``shelfscan.pipeline.analyze_image`` with the configured detector; ``SHELFSCAN_SCAN_ANALYZER``
= ``"package.module:factory"`` names another, where ``factory(settings)`` returns the callable
(used by tests and by deployments that bring their own pipeline).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from PIL import Image

from shelfscan.planogram.model import Planogram
from shelfscan.settings import Settings


class AnalysisResult(Protocol):
    @property
    def report(self) -> Any: ...

    @property
    def annotated_jpeg(self) -> bytes: ...


Analyzer = Callable[[Image.Image, Planogram], AnalysisResult]


class AnalyzerUnavailable(RuntimeError):
    """The configured analyzer cannot be loaded; retrying will not help."""


def load_analyzer(settings: Settings, spec: str | None) -> Analyzer:
    if spec:
        module_name, _, attribute = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute or "make_analyzer")
        except (ImportError, AttributeError) as error:
            raise AnalyzerUnavailable(f"SHELFSCAN_SCAN_ANALYZER={spec!r}: {error}") from error
        return factory(settings)
    return PipelineAnalyzer(settings)


class PipelineAnalyzer:
    """The real pipeline; the detector is loaded on first use, once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._run: Callable[[Image.Image, Planogram], AnalysisResult] | None = None

    def __call__(self, image: Image.Image, planogram: Planogram) -> AnalysisResult:
        if self._run is None:
            with self._lock:
                if self._run is None:
                    self._run = self._load()
        return self._run(image, planogram)

    def _load(self) -> Callable[[Image.Image, Planogram], AnalysisResult]:
        try:
            from shelfscan.pipeline import Analyzer
        except ImportError as error:
            raise AnalyzerUnavailable(f"analysis pipeline not available: {error}") from error
        return Analyzer.from_settings(self.settings)


def report_document(report: Any) -> dict[str, Any]:
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    if isinstance(report, Mapping):
        return dict(report)
    raise TypeError(f"analysis report must be a pydantic model or a mapping, not {type(report)}")


# Where a problem's picture is, in order of preference: what was seen, else where it should be.
BOX_KEYS = ("evidence", "evidence_box", "box", "bbox", "expected_box")
NO_EVIDENCE_STATUSES = frozenset({"ok", "not_visible"})


def evidence_boxes(report: Mapping[str, Any]) -> dict[str, tuple[float, float, float, float]]:
    """Pixel boxes of every visible facing with a problem, found anywhere in the report.

    Any object with a ``facing_id`` and a ``status`` other than ``ok``/``not_visible`` counts
    (the compliance report's ``facings``); its box is the first of :data:`BOX_KEYS` present,
    as ``[x1, y1, x2, y2]``, ``{x, y, w, h}`` or ``{x1, y1, x2, y2}``, or an object holding
    such a ``box`` (the report's ``evidence``).
    """
    found: dict[str, tuple[float, float, float, float]] = {}

    def visit(node: Any) -> None:
        if isinstance(node, Mapping):
            facing = node.get("facing_id")
            status = str(node.get("status", "")).lower()
            if isinstance(facing, str) and status and status not in NO_EVIDENCE_STATUSES:
                for key in BOX_KEYS:
                    value = node.get(key)
                    if isinstance(value, Mapping) and "box" in value:
                        value = value["box"]
                    box = _as_xyxy(value)
                    if box is not None:
                        found.setdefault(facing, box)
                        break
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(report)
    return found


def _as_xyxy(box: Any) -> tuple[float, float, float, float] | None:
    try:
        if isinstance(box, list | tuple) and len(box) == 4:
            x1, y1, x2, y2 = (float(v) for v in box)
        elif isinstance(box, Mapping) and {"x", "y", "w", "h"} <= box.keys():
            x1, y1 = float(box["x"]), float(box["y"])
            x2, y2 = x1 + float(box["w"]), y1 + float(box["h"])
        elif isinstance(box, Mapping) and {"x1", "y1", "x2", "y2"} <= box.keys():
            x1, y1, x2, y2 = (float(box[k]) for k in ("x1", "y1", "x2", "y2"))
        else:
            return None
    except (TypeError, ValueError):
        return None
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
