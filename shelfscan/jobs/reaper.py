"""The reaper: the database, not the broker, decides that no scan is lost or stuck.

* past its deadline (queued or processing) → failed, with the reason;
* processing with an expired lease (its worker died) → queued again and re-sent, or failed
  once it has used up its attempts;
* queued with no worker picking it up for ``requeue_after_s`` (a message lost with the broker,
  or an in-process queue lost with its process) → re-sent.

Every step is a conditional UPDATE, so several reapers (one per worker) can run at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update

from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.jobs.tasks import Enqueue
from shelfscan.scans import lease_released, now_utc

log = logging.getLogger(__name__)


@dataclass
class ReapResult:
    failed_deadline: list[str] = field(default_factory=list)
    failed_attempts: list[str] = field(default_factory=list)
    requeued_lost: list[str] = field(default_factory=list)
    resent_stale: list[str] = field(default_factory=list)


def reap(
    database_url: str,
    enqueue: Enqueue,
    *,
    deadline_s: float,
    max_attempts: int,
    requeue_after_s: float,
    now: datetime | None = None,
) -> ReapResult:
    now = now or now_utc()
    result = ReapResult()
    with session_scope(database_url) as session:
        overdue = session.scalars(
            select(Scan.id).where(
                Scan.status.in_(("queued", "processing")), Scan.deadline_at <= now
            )
        ).all()
        for scan_id in overdue:
            changed = session.execute(
                update(Scan)
                .where(
                    Scan.id == scan_id,
                    Scan.status.in_(("queued", "processing")),
                    Scan.deadline_at <= now,
                )
                .values(
                    status="failed",
                    error=f"deadline exceeded: not finished within {deadline_s:g} s "
                    "of the upload; retry the scan",
                    finished_at=now,
                    **lease_released(now),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed:
                result.failed_deadline.append(scan_id)

        lost = session.execute(
            select(Scan.id, Scan.attempts).where(
                Scan.status == "processing", Scan.lease_expires_at < now
            )
        ).all()
        for scan_id, attempts in lost:
            expired = and_(
                Scan.id == scan_id, Scan.status == "processing", Scan.lease_expires_at < now
            )
            if attempts >= max_attempts:
                values = {
                    "status": "failed",
                    "error": f"gave up after {attempts} attempts: the worker was lost each time",
                    "finished_at": now,
                }
                target = result.failed_attempts
            else:
                values = {"status": "queued", "error": "worker lost; queued again"}
                target = result.requeued_lost
            changed = session.execute(
                update(Scan)
                .where(expired)
                .values(**values, **lease_released(now))
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed:
                target.append(scan_id)

        stale_before = now - timedelta(seconds=requeue_after_s)
        stale = session.scalars(
            select(Scan.id).where(Scan.status == "queued", Scan.updated_at <= stale_before)
        ).all()
        for scan_id in stale:
            changed = session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.status == "queued", Scan.updated_at <= stale_before)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed:
                result.resent_stale.append(scan_id)

    for scan_id in result.requeued_lost + result.resent_stale:
        try:
            enqueue(scan_id, 0.0)
        except Exception:  # the broker is down: the next round sends it again
            log.warning("could not re-send scan", extra={"scan_id": scan_id}, exc_info=True)
    if any((result.failed_deadline, result.failed_attempts, result.requeued_lost)):
        log.warning(
            "reaper",
            extra={
                "failed_deadline": len(result.failed_deadline),
                "failed_attempts": len(result.failed_attempts),
                "requeued_lost": len(result.requeued_lost),
                "resent_stale": len(result.resent_stale),
            },
        )
    return result
