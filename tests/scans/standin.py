"""A small, real analyzer for tests, plugged in through ``SHELFSCAN_SCAN_ANALYZER``.

It maps the planogram onto the whole photo proportionally (no detector), calls every third
facing a gap, draws the facings on the photo and answers with a real (typed)
:class:`ComplianceReport`. Deterministic, so tests can compute what it
must have produced. Environment knobs for the worker-process tests: ``..._DELAY`` seconds per
photo, ``..._LOG`` a file that gets one line per analysis, ``..._FAIL`` an error message.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from shelfscan.compliance.report import ComplianceReport
from shelfscan.planogram.model import Planogram

DELAY_ENV = "SHELFSCAN_TEST_ANALYZE_DELAY"
LOG_ENV = "SHELFSCAN_TEST_ANALYZE_LOG"
FAIL_ENV = "SHELFSCAN_TEST_ANALYZE_FAIL"


@dataclass
class StandInAnalysis:
    report: ComplianceReport
    annotated_jpeg: bytes


def facing_xyxy(facing: dict[str, Any]) -> tuple[float, float, float, float]:
    """A report facing's evidence box as ``(x1, y1, x2, y2)`` pixels."""
    box = facing["evidence"]["box"]
    return (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"])


def expected_facings(planogram: Planogram, width: int, height: int) -> list[dict[str, Any]]:
    """The report's ``facings`` as JSON, for a photo of ``width`` x ``height``."""
    sx, sy = width / planogram.width, height / planogram.height
    facings = []
    for index, facing in enumerate(planogram.facings()):
        box = {
            "x": round(facing.x * sx, 1),
            "y": round(facing.y * sy, 1),
            "w": round(facing.w * sx, 1),
            "h": round(facing.h * sy, 1),
        }
        gap = index % 3 == 2
        facings.append(
            {
                "facing_id": facing.facing_id,
                "position_id": facing.position_id,
                "product_id": facing.product_id,
                "product_name": planogram.product_by_id()[facing.product_id].name,
                "fixture_id": facing.fixture_id,
                "status": "gap" if gap else "ok",
                "reason": "stand-in: every third facing is a gap" if gap else "stand-in",
                "expected_box": box,
                "evidence": {
                    "source": "inferred" if gap else "detection",
                    "box": box,
                    "detection_id": None if gap else f"d{index}",
                    "label": None,
                    "confidence": None,
                    "photo": None,  # schema 1.3: the only photo
                },
                "found_product_id": None if gap else facing.product_id,
                "found_label": None,
                "shift_facings": None,
                "visible_fraction": 1.0,
            }
        )
    return facings


def _report(planogram: Planogram, width: int, height: int) -> ComplianceReport:
    facings = expected_facings(planogram, width, height)
    gaps = sum(f["status"] == "gap" for f in facings)
    ok = len(facings) - gaps
    share = ok / len(facings) if facings else None
    return ComplianceReport.model_validate(
        {
            "planogram_id": planogram.id,
            "planogram_name": planogram.name,
            "unit": planogram.unit.value,
            "image": {"width": width, "height": height},
            "scores": {
                "position_compliance": share,
                "availability": share,
                "facings_compliance": share,
            },
            "counts": {
                "facings": len(facings),
                "visible": len(facings),
                "ok": ok,
                "gap": gaps,
                "misplaced": 0,
                "not_visible": 0,
                "unexpected": 0,
            },
            "facings": facings,
            "unexpected": [],
            "products": [],
            "fixtures": [],
            "registration": {
                "method": "stand-in",
                "rotation_deg": 0.0,
                "scale_x": width / planogram.width,
                "scale_y": height / planogram.height,
                "offset_x": 0.0,
                "offset_y": 0.0,
                "label_inliers": 0,
                "labelled_detections": 0,
                "rows": [],
                "warnings": [],
            },
            "ignored": {},
        }
    )


class StandInAnalyzer:
    def __init__(self, delay_s: float = 0.0, fail: str | None = None) -> None:
        self.delay_s = delay_s
        self.fail = fail

    def __call__(self, image: Image.Image, planogram: Planogram) -> StandInAnalysis:
        log_path = os.environ.get(LOG_ENV)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {time.time():.3f}\n")
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail:
            raise ValueError(self.fail)
        report = _report(planogram, image.width, image.height)
        annotated = image.copy()
        draw = ImageDraw.Draw(annotated)
        for facing in report.facings:
            colour = (0, 200, 0) if facing.status == "ok" else (230, 0, 0)
            box = facing.evidence.box
            draw.rectangle((box.x, box.y, box.x + box.w, box.y + box.h), outline=colour, width=3)
        out = io.BytesIO()
        annotated.save(out, "JPEG", quality=85)
        return StandInAnalysis(report=report, annotated_jpeg=out.getvalue())


def make_analyzer(settings: object) -> StandInAnalyzer:
    return StandInAnalyzer(
        delay_s=float(os.environ.get(DELAY_ENV, "0") or 0), fail=os.environ.get(FAIL_ENV) or None
    )
