"""What the scan lifecycle tells the audits: :func:`on_scan_finished` runs in the transaction
that finishes a scan (``shelfscan.services.scans.finish``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shelfscan.audits import occurrences, tasks
from shelfscan.db import models
from shelfscan.db.base import utcnow

log = logging.getLogger("shelfscan.audits")


def _task_due_times() -> tuple[timedelta, timedelta]:
    from shelfscan.settings import get_settings

    settings = get_settings()
    return (
        timedelta(hours=settings.audit_task_due_hours),
        timedelta(hours=settings.audit_out_of_stock_due_hours),
    )


def apply_scan(session: Session, scan: models.Scan, now: datetime | None = None) -> None:
    """Link the scan to its bay's open occurrences (completing them) and, when it is
    conclusive, close the tasks it shows fixed and open tasks for its actions."""
    # The photo's time is what counts (on time, time to fix), not when its analysis ended.
    now = now or scan.created_at or utcnow()
    touched = occurrences.record_scan(session, scan, now)
    if occurrences.scan_is_conclusive(scan):
        due_after, out_of_stock_due_after = _task_due_times()
        tasks.process_scan(
            session,
            scan,
            now=now,
            occurrence_id=touched[0] if touched else None,
            due_after=due_after,
            out_of_stock_due_after=out_of_stock_due_after,
        )


def on_scan_finished(session: Session, scan_id: str) -> None:
    """Never lets an audit problem undo a finished scan: the audit work runs in a savepoint
    and is logged and dropped if it fails."""
    scan = session.get(models.Scan, scan_id)
    if scan is None:
        return
    try:
        with session.begin_nested():
            session.refresh(scan)
            apply_scan(session, scan)
    except Exception:
        log.exception("audit bookkeeping failed for scan %s", scan_id)
