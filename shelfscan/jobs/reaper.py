"""The reaper: the database, not the broker, decides that no scan is lost or stuck.

* past its deadline (queued or processing) → failed, with the reason;
* processing with an expired lease (its worker died) → queued again and re-sent, or failed
  once it has used up its attempts;
* queued with no worker picking it up for ``requeue_after_s`` (a message lost with the broker,
  or an in-process queue lost with its process) → re-sent.

The transitions are :func:`shelfscan.services.scans.reap`; this module runs them on a
database and re-sends what they queued again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shelfscan.db.session import session_scope
from shelfscan.jobs.tasks import Enqueue
from shelfscan.services import scans
from shelfscan.services.scans import ReapResult

log = logging.getLogger(__name__)


def reap(
    database_url: str,
    enqueue: Enqueue,
    *,
    deadline_s: float,
    max_attempts: int,
    requeue_after_s: float,
    now: datetime | None = None,
) -> ReapResult:
    with session_scope(database_url) as session:
        result = scans.reap(
            session,
            deadline_s=deadline_s,
            max_attempts=max_attempts,
            requeue_after_s=requeue_after_s,
            now=now,
        )
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
