"""Audit KPIs for the dashboards: one function, plain numbers (None when nothing to measure).

* completion rate — done ÷ occurrences whose due time has passed (done, overdue, missed);
* on-time rate — done by the due time ÷ the same;
* re-check pass rate — corrective tasks closed by a later scan ÷ tasks whose bay was scanned
  again after they opened (the re-check happened; did it show the fix?);
* median time to fix — from the scan that found a problem to the scan that proved it fixed.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from shelfscan.audits.models import AuditOccurrence, CorrectiveTask
from shelfscan.db.models import Scan


@dataclass(frozen=True)
class AuditKpis:
    occurrences_due: int
    occurrences_done: int
    occurrences_on_time: int
    completion_rate: float | None
    on_time_rate: float | None
    tasks_rechecked: int
    tasks_fixed_by_recheck: int
    recheck_pass_rate: float | None
    median_time_to_fix_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def audit_kpis(
    session: Session,
    *,
    store_ids: Select[tuple[int]] | list[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditKpis:
    """KPIs over occurrences due in ``[since, until)`` and tasks opened then; ``store_ids``
    (ids or a sub-select, e.g. the scope filter's) narrows to some stores."""
    occurrences = select(AuditOccurrence).where(
        AuditOccurrence.state.in_(["done", "overdue", "missed"])
    )
    tasks = select(CorrectiveTask)
    if store_ids is not None:
        occurrences = occurrences.where(AuditOccurrence.store_id.in_(store_ids))
        tasks = tasks.where(CorrectiveTask.store_id.in_(store_ids))
    if since is not None:
        occurrences = occurrences.where(AuditOccurrence.due_at >= since)
        tasks = tasks.where(CorrectiveTask.created_at >= since)
    if until is not None:
        occurrences = occurrences.where(AuditOccurrence.due_at < until)
        tasks = tasks.where(CorrectiveTask.created_at < until)
    rows = list(session.scalars(occurrences))
    done = [o for o in rows if o.state == "done"]
    on_time = [o for o in done if o.completed_at is not None and o.completed_at <= o.due_at]

    later_scan = exists(
        select(Scan.id).where(
            Scan.bay_id == CorrectiveTask.bay_id,
            Scan.created_at > CorrectiveTask.created_at,
            Scan.status == "done",
        )
    )
    rechecked = list(session.scalars(tasks.where(later_scan)))
    fixed = [t for t in rechecked if t.closed_by == "scan"]
    durations = [
        (t.closed_at - t.created_at).total_seconds() for t in fixed if t.closed_at is not None
    ]
    return AuditKpis(
        occurrences_due=len(rows),
        occurrences_done=len(done),
        occurrences_on_time=len(on_time),
        completion_rate=_share(len(done), len(rows)),
        on_time_rate=_share(len(on_time), len(rows)),
        tasks_rechecked=len(rechecked),
        tasks_fixed_by_recheck=len(fixed),
        recheck_pass_rate=_share(len(fixed), len(rechecked)),
        median_time_to_fix_s=statistics.median(durations) if durations else None,
    )
