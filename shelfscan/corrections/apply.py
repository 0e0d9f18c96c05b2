"""Apply a person's corrections to a compliance report: the verdicts change, the change is
marked on the facing (its ``reason`` says who corrected what), and counts, scores and actions
are recomputed with the engine's own score stage and action builder. Pure: no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shelfscan.compliance.actions import build_actions
from shelfscan.compliance.engine import recount
from shelfscan.compliance.report import (
    ComplianceReport,
    EvidenceSource,
    FacingResult,
    FacingStatus,
    TrustSummary,
)
from shelfscan.planogram.model import Planogram


class CorrectionKind(StrEnum):
    CONFIRM = "confirm"  # the verdict is right
    PRODUCT = "product"  # this is product X
    NOT_GAP = "not_gap"  # not a gap: the planned product is there
    GAP = "gap"  # gap: nothing there
    NOT_THIS_BAY = "not_this_bay"  # the photo shows another bay


CORRECTING = frozenset(CorrectionKind) - {CorrectionKind.CONFIRM}
WRONG_BAY_REASON = "reviewer_wrong_bay"


class CorrectionError(ValueError):
    """A correction that does not fit the report; the message names what is wrong."""


@dataclass(frozen=True)
class ReviewedVerdict:
    """One correction to apply: on a facing, or on an unexpected product's box."""

    kind: CorrectionKind
    by: str
    facing_id: str | None = None
    detection_id: str | None = None
    product_id: str | None = None  # PRODUCT: the product seen there
    product_name: str | None = None


@dataclass(frozen=True)
class Change:
    status_before: str | None
    status_after: str | None
    product_before: str | None
    product_after: str | None


def _mark(facing: FacingResult, text: str) -> None:
    facing.reason = f"{text} (was: {facing.reason})" if facing.reason else text


def apply_correction(
    report: ComplianceReport, planogram: Planogram, verdict: ReviewedVerdict
) -> Change:
    """Change ``report`` in place for one correction; returns what changed. Scores and actions
    are not recomputed here (:func:`recompute`, once for several corrections)."""
    if verdict.kind is CorrectionKind.NOT_THIS_BAY:
        before = "conclusive" if report.trust is None or report.trust.conclusive else "inconclusive"
        report.trust = TrustSummary(
            conclusive=False,
            reason=WRONG_BAY_REASON,
            instruction="A reviewer says this photo shows another bay: photograph this bay again.",
            likely_bay=report.trust.likely_bay if report.trust else None,
            figures={**(report.trust.figures if report.trust else {}), "reviewed_by": verdict.by},
        )
        return Change(before, "inconclusive", None, None)
    if verdict.facing_id is None:
        return _correct_unexpected(report, planogram, verdict)
    try:
        facing = report.facing(verdict.facing_id)
    except KeyError:
        raise CorrectionError(
            f"facing_id: the report has no facing {verdict.facing_id!r}"
        ) from None
    before = Change(facing.status.value, facing.found_product_id, None, None)
    who = f"corrected by {verdict.by}"
    if verdict.kind is CorrectionKind.CONFIRM:
        _mark(facing, f"confirmed by {verdict.by}")
    elif verdict.kind is CorrectionKind.PRODUCT:
        if not verdict.product_id:
            raise CorrectionError("product_id: required for a 'product' correction")
        facing.found_product_id = verdict.product_id
        facing.found_label = verdict.product_name or verdict.product_id
        ok = verdict.product_id == facing.product_id
        facing.status = FacingStatus.OK if ok else FacingStatus.MISPLACED
        _mark(facing, f"{who}: this is {verdict.product_name or verdict.product_id}")
    elif verdict.kind is CorrectionKind.NOT_GAP:
        facing.status = FacingStatus.OK
        facing.found_product_id = facing.product_id
        facing.found_label = facing.product_name
        _mark(facing, f"{who}: not a gap, the product is there")
    elif verdict.kind is CorrectionKind.GAP:
        facing.status = FacingStatus.GAP
        facing.found_product_id = None
        facing.found_label = None
        if facing.evidence.source is EvidenceSource.DETECTION:
            facing.evidence.source = EvidenceSource.INFERRED
        _mark(facing, f"{who}: gap, nothing there")
    return Change(
        before.status_before, facing.status.value, before.status_after, facing.found_product_id
    )


def _correct_unexpected(
    report: ComplianceReport, planogram: Planogram, verdict: ReviewedVerdict
) -> Change:
    if verdict.detection_id is None:
        raise CorrectionError("facing_id or detection_id: say which verdict is corrected")
    matches = [i for i, u in enumerate(report.unexpected) if u.detection_id == verdict.detection_id]
    if not matches:
        raise CorrectionError(
            f"detection_id: the report has no unexpected product {verdict.detection_id!r}"
        )
    index = matches[0]
    item = report.unexpected[index]
    before = Change("unexpected", item.product_id or item.label, None, None)
    if verdict.kind is CorrectionKind.CONFIRM:
        item.reason = f"confirmed by {verdict.by} (was: {item.reason})"
        return Change("unexpected", before.status_after, "unexpected", before.status_after)
    if verdict.kind is CorrectionKind.PRODUCT:
        if not verdict.product_id:
            raise CorrectionError("product_id: required for a 'product' correction")
        known = {p.id for p in planogram.products}
        item.product_id = verdict.product_id if verdict.product_id in known else None
        item.label = verdict.product_name or verdict.product_id
        item.reason = f"corrected by {verdict.by}: this is {item.label} (was: {item.reason})"
        return Change("unexpected", before.status_after, "unexpected", verdict.product_id)
    if verdict.kind is CorrectionKind.GAP:
        # Nothing there: the box was a false detection.
        del report.unexpected[index]
        return Change("unexpected", before.status_after, "removed", None)
    raise CorrectionError(f"kind: {verdict.kind.value!r} applies to a facing, not to a box")


def recompute(
    report: ComplianceReport, planogram: Planogram, known_names: Mapping[str, str]
) -> None:
    """Counts, scores and actions again, from the corrected verdicts (the engine's score stage
    and ``compliance.actions``); an inconclusive report gets no actions."""
    recount(planogram, report)
    conclusive = report.trust is None or report.trust.conclusive
    report.actions = build_actions(report, planogram, known_names=known_names) if conclusive else []


def apply_corrections(
    report: ComplianceReport,
    planogram: Planogram,
    verdicts: Sequence[ReviewedVerdict],
    *,
    known_names: Mapping[str, str] | None = None,
) -> tuple[ComplianceReport, list[Change]]:
    """A corrected copy of ``report`` (the original is left as it was) and each change."""
    corrected = ComplianceReport.model_validate(report.model_dump(mode="json"))
    changes = [apply_correction(corrected, planogram, verdict) for verdict in verdicts]
    recompute(corrected, planogram, known_names or {})
    return corrected, changes
