"""The Azure planogram-compliance response, built from a shelfscan report.

What the official sample client and its visualiser read (azure-apis.md §2): one entry per
planogram position with ``positionId`` and ``detectedObject`` ``{id, boundingBox, tags}``,
integer pixel boxes ``{x, y, w, h}``, and the first tag's name decides the verdict — ``gap``
means missing, the planogram product's *name* means compliant, anything else misplaced.

* ok: the detection's box, tagged with the planned product's name (even when the detector
  named it by id or GTIN, so that the client sees it compliant).
* misplaced: the detection's box, tagged with the name of the product found (its planogram
  name when it is in the planogram, else the detector's label).
* gap: the box where the product should be, tagged ``gap`` (the gap box's id and confidence
  when the detector reported one; inferred gaps have confidence 0.5).
* not_visible: the part of the expected box inside the photo, tagged ``notVisible``
  with confidence 0 (the Azure service has no such verdict; the client shows it as misplaced).

Each entry also carries shelfscan's ``status`` and ``reason``; clients that do not know them
ignore them.
"""

from __future__ import annotations

from typing import Any

from shelfscan.compliance.report import Box, ComplianceReport, FacingStatus

GAP_TAG = "gap"
NOT_VISIBLE_TAG = "notVisible"
INFERRED_GAP_CONFIDENCE = 0.5


def _pixel_box(box: Box, width: int, height: int) -> dict[str, int]:
    x1 = min(max(round(box.x), 0), width)
    y1 = min(max(round(box.y), 0), height)
    x2 = min(max(round(box.x + box.w), 0), width)
    y2 = min(max(round(box.y + box.h), 0), height)
    return {"x": x1, "y": y1, "w": max(x2 - x1, 0), "h": max(y2 - y1, 0)}


def matching_result_per_position(report: ComplianceReport) -> dict[str, Any]:
    """``{"matchingResultPerPosition": [...]}`` with one entry per planogram facing."""
    width, height = report.image.width, report.image.height
    names = {p.product_id: p.product_name for p in report.products}
    entries = []
    for facing in report.facings:
        evidence = facing.evidence
        if facing.status in (FacingStatus.OK, FacingStatus.MISPLACED):
            if facing.status is FacingStatus.OK:
                tag = facing.product_name
            else:
                tag = names.get(facing.found_product_id or "", facing.found_label or "")
            obj = {
                "id": evidence.detection_id,
                "boundingBox": _pixel_box(evidence.box, width, height),
                "tags": [{"name": tag, "confidence": evidence.confidence}],
            }
        elif facing.status is FacingStatus.GAP:
            obj = {
                "id": evidence.detection_id or f"gap-{facing.facing_id}",
                "boundingBox": _pixel_box(facing.expected_box, width, height),
                "tags": [
                    {
                        "name": GAP_TAG,
                        "confidence": evidence.confidence
                        if evidence.confidence is not None
                        else INFERRED_GAP_CONFIDENCE,
                    }
                ],
            }
        else:
            obj = {
                "id": f"notVisible-{facing.facing_id}",
                "boundingBox": _pixel_box(facing.expected_box, width, height),
                "tags": [{"name": NOT_VISIBLE_TAG, "confidence": 0.0}],
            }
        entries.append(
            {
                "positionId": facing.facing_id,
                "detectedObject": obj,
                "status": facing.status.value,
                "reason": facing.reason,
            }
        )
    return {"matchingResultPerPosition": entries}
