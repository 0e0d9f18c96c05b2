"""Field accuracy (how often people confirm versus correct shelfscan's verdicts) and the review
queue (the verdicts most worth a person's look, first).

A verdict's *expected benefit* of review is the chance it is wrong times what a wrong one
costs: :func:`wrong_chance` combines the signals of doubt the report carries (the detector's
confidence, the recognition margin where known, how well the photo registered to the plan,
how far the product stands from its planned spot, how much of the facing is in view,
whether the photos of the scan disagree, and whether the product found is the planned one),
and :data:`IMPACT` weighs a wrong *problem* (a clerk
walks to the shelf for nothing) above a wrong *ok* (a problem nobody fixes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.corrections.apply import CorrectionKind
from shelfscan.corrections.models import Correction
from shelfscan.db.models import Bay, Scan, Store

IMPACT = {"misplaced": 1.0, "gap": 1.0, "unexpected": 0.8, "ok": 0.6}
QUEUE_SCANS = 200  # the most recent finished scans looked at
# A verdict whose product is the planned one has two witnesses, the recogniser and the plan:
# both must be wrong for it to be wrong, so it keeps only this share of its doubt. One whose
# product contradicts the plan has the plan against it: this share of its trust goes. On the
# benchmark (benchmarks/corrections.py) 1 of 536 renders' "ok" verdicts was wrong against 30
# of 64 "misplaced" ones.
PLAN_CORROBORATION = 0.5
PLAN_CONTRADICTION = 0.5


@dataclass(frozen=True)
class Signals:
    """Doubt about one verdict, each in [0, 1] where 1 is no doubt (None: not known)."""

    confidence: float | None = None  # the detector's
    recognition_margin: float | None = None  # top-1 minus top-2 recogniser confidence
    registration: float | None = None  # share of labelled boxes that fit the registration
    placement: float | None = None  # 1 - |shift from the planned spot| in facings (clipped)
    visible: float | None = None  # share of the facing inside the photo
    agreement: float | None = None  # share of the scan's photos that agree on it
    plan_agreement: float | None = None  # 1: the product found is the planned one, 0: not


def wrong_chance(signals: Signals) -> float:
    """1 - product of the signals' confidences: any strong doubt makes a verdict doubtful.
    Recognition margin and photo agreement count double: they are the direct evidence. The
    plan then corroborates or contradicts (``PLAN_CORROBORATION``, ``PLAN_CONTRADICTION``)."""
    trust = 1.0
    for name, value in asdict(signals).items():
        if value is None or name == "plan_agreement":
            continue
        value = min(1.0, max(0.0, float(value)))
        power = 2.0 if name in ("recognition_margin", "agreement") else 1.0
        trust *= value**power
    if signals.plan_agreement is None:
        return 1.0 - trust
    agree = min(1.0, max(0.0, float(signals.plan_agreement)))
    corroborated = (1.0 - trust) * (1.0 - PLAN_CORROBORATION)
    contradicted = 1.0 - trust * (1.0 - PLAN_CONTRADICTION)
    return agree * corroborated + (1.0 - agree) * contradicted


def expected_benefit(status: str, signals: Signals) -> float:
    return IMPACT.get(status, 0.6) * wrong_chance(signals)


@dataclass(frozen=True)
class QueueItem:
    store: str
    bay: str | None
    scan_id: str
    finished_at: datetime | None
    facing_id: str | None
    detection_id: str | None
    status: str
    product_id: str | None
    product_name: str | None
    found_product_id: str | None
    box: list[float]
    benefit: float
    wrong_chance: float
    signals: dict[str, float | None]


def report_verdicts(report: Mapping[str, Any]) -> Iterable[tuple[dict[str, Any], Signals]]:
    """Every reviewable verdict of a report (a facing in view, an unexpected product), with its
    signals of doubt."""
    registration = report.get("registration") or {}
    labelled = registration.get("labelled_detections") or 0
    fit = (registration.get("label_inliers") or 0) / labelled if labelled else None
    disagreement = (report.get("review") or {}).get("disagreement") or {}
    margins = (report.get("review") or {}).get("margins") or {}
    for facing in report.get("facings") or []:
        if facing.get("status") == "not_visible":
            continue
        evidence = facing.get("evidence") or {}
        box = evidence.get("box") or facing.get("expected_box") or {}
        shift = facing.get("shift_facings")
        plan = {"ok": 1.0, "misplaced": 0.0}.get(facing["status"])  # a gap names no product
        yield (
            {
                "facing_id": facing["facing_id"],
                "detection_id": evidence.get("detection_id"),
                "status": facing["status"],
                "product_id": facing.get("product_id"),
                "product_name": facing.get("product_name"),
                "found_product_id": facing.get("found_product_id"),
                "box": [box.get("x", 0), box.get("y", 0), box.get("w", 0), box.get("h", 0)],
            },
            Signals(
                confidence=evidence.get("confidence"),
                recognition_margin=margins.get(evidence.get("detection_id") or ""),
                registration=fit,
                placement=None if shift is None else 1 - min(abs(shift), 1.0) * 0.5,
                visible=facing.get("visible_fraction"),
                agreement=disagreement.get(facing["facing_id"]),
                plan_agreement=plan,
            ),
        )
    for item in report.get("unexpected") or []:
        box = item.get("box") or {}
        yield (
            {
                "facing_id": None,
                "detection_id": item["detection_id"],
                "status": "unexpected",
                "product_id": item.get("product_id"),
                "product_name": item.get("label"),
                "found_product_id": item.get("product_id"),
                "box": [box.get("x", 0), box.get("y", 0), box.get("w", 0), box.get("h", 0)],
            },
            Signals(confidence=item.get("confidence"), registration=fit),
        )


def review_queue(session: Session, store_ids: Any, *, limit: int = 50) -> list[QueueItem]:
    """Unreviewed verdicts of the most recent finished scans, highest expected benefit first."""
    scans = (
        select(Scan.id, Scan.report, Scan.finished_at, Store.code, Bay.code)
        .join(Store, Store.id == Scan.store_id)
        .outerjoin(Bay, Bay.id == Scan.bay_id)
        .where(Scan.status == "done", Scan.report.is_not(None))
        .order_by(Scan.finished_at.desc())
        .limit(QUEUE_SCANS)
    )
    if store_ids is not None:
        scans = scans.where(Scan.store_id.in_(store_ids))
    rows = session.execute(scans).all()
    reviewed = {
        (scan_id, facing_id or detection_id)
        for scan_id, facing_id, detection_id in session.execute(
            select(Correction.scan_id, Correction.facing_id, Correction.detection_id).where(
                Correction.scan_id.in_([r[0] for r in rows])
            )
        )
    }
    items: list[QueueItem] = []
    for scan_id, report, finished_at, store_code, bay_code in rows:
        for verdict, signals in report_verdicts(report or {}):
            if (scan_id, verdict["facing_id"] or verdict["detection_id"]) in reviewed:
                continue
            chance = wrong_chance(signals)
            items.append(
                QueueItem(
                    store=store_code,
                    bay=bay_code,
                    scan_id=scan_id,
                    finished_at=finished_at,
                    benefit=round(IMPACT.get(verdict["status"], 0.6) * chance, 4),
                    wrong_chance=round(chance, 4),
                    signals=asdict(signals),
                    **verdict,
                )
            )
    items.sort(key=lambda item: (-item.benefit, item.scan_id, item.facing_id or ""))
    return items[:limit]


@dataclass(frozen=True)
class AccuracyRow:
    key: str
    reviewed: int
    confirmed: int
    corrected: int
    accuracy: float | None  # confirmed / reviewed


GROUPS = ("product", "store", "detector")


def field_accuracy(session: Session, store_ids: Any, *, by: str = "product") -> list[AccuracyRow]:
    """Share of reviewed verdicts people confirmed, per product (the verdict's product: what
    was found, else what was planned), store or detector; most reviewed first."""
    if by not in GROUPS:
        raise ValueError(f"by: {by!r} is not one of {', '.join(GROUPS)}")
    query = select(
        Correction.kind, Correction.product_before, Correction.detector, Store.code
    ).join(Store, Store.id == Correction.store_id)
    if store_ids is not None:
        query = query.where(Correction.store_id.in_(store_ids))
    counts: dict[str, list[int]] = {}
    for kind, product, detector, store_code in session.execute(query):
        key = {
            "product": product or "(none)",
            "store": store_code,
            "detector": detector or "(unknown)",
        }[by]
        tally = counts.setdefault(key, [0, 0])
        tally[0 if kind == CorrectionKind.CONFIRM.value else 1] += 1
    rows = [
        AccuracyRow(key, c + w, c, w, round(c / (c + w), 4) if c + w else None)
        for key, (c, w) in counts.items()
    ]
    rows.sort(key=lambda r: (-r.reviewed, r.key))
    return rows


def top_share_wrong(benefits: Sequence[float], wrong: Sequence[bool], share: float = 0.1) -> float:
    """Of all wrong verdicts, the share found in the top ``share`` of the queue."""
    total_wrong = sum(bool(w) for w in wrong)
    if not total_wrong:
        return math.nan
    order = sorted(range(len(benefits)), key=lambda i: -benefits[i])
    top = order[: max(1, math.ceil(len(order) * share))]
    return sum(bool(wrong[i]) for i in top) / total_wrong
