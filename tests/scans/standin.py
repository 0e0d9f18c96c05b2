"""A small, real analyzer for tests, plugged in through ``SHELFSCAN_SCAN_ANALYZER``.

It maps the planogram onto the whole photo proportionally (no detector), calls every third
facing a gap, and draws the facings on the photo. Deterministic, so tests can compute what it
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

from shelfscan.planogram.model import Planogram

DELAY_ENV = "SHELFSCAN_TEST_ANALYZE_DELAY"
LOG_ENV = "SHELFSCAN_TEST_ANALYZE_LOG"
FAIL_ENV = "SHELFSCAN_TEST_ANALYZE_FAIL"


@dataclass
class StandInAnalysis:
    report: dict[str, Any]
    annotated_jpeg: bytes


def expected_facings(planogram: Planogram, width: int, height: int) -> list[dict[str, Any]]:
    sx, sy = width / planogram.width, height / planogram.height
    return [
        {
            "facing_id": facing.facing_id,
            "product_id": facing.product_id,
            "status": "gap" if index % 3 == 2 else "ok",
            "evidence_box": [
                round(facing.x * sx, 1),
                round(facing.y * sy, 1),
                round((facing.x + facing.w) * sx, 1),
                round((facing.y + facing.h) * sy, 1),
            ],
        }
        for index, facing in enumerate(planogram.facings())
    ]


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
        facings = expected_facings(planogram, image.width, image.height)
        annotated = image.copy()
        draw = ImageDraw.Draw(annotated)
        for facing in facings:
            colour = (0, 200, 0) if facing["status"] == "ok" else (230, 0, 0)
            draw.rectangle(facing["evidence_box"], outline=colour, width=3)
        out = io.BytesIO()
        annotated.save(out, "JPEG", quality=85)
        report = {
            "planogram_id": planogram.id,
            "image": {"width": image.width, "height": image.height},
            "facings": facings,
            "summary": {
                "gaps": sum(f["status"] == "gap" for f in facings),
                "ok": sum(f["status"] == "ok" for f in facings),
            },
        }
        return StandInAnalysis(report=report, annotated_jpeg=out.getvalue())


def make_analyzer(settings: object) -> StandInAnalyzer:
    return StandInAnalyzer(
        delay_s=float(os.environ.get(DELAY_ENV, "0") or 0), fail=os.environ.get(FAIL_ENV) or None
    )
