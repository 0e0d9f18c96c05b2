"""The audit log of security events: who did what to what, from where, and how it ended.

Events (``event`` column): ``login``, ``logout``, ``login_throttled``, ``user_created``,
``user_disabled``, ``role_changed``, ``password_changed``, ``totp_enrolled``,
``api_key_created``, ``api_key_revoked``, ``device_enrolment_code_created``,
``device_enrolled``, ``device_revoked``, ``region_created``, ``planogram_published``,
``planogram_deleted``. Secrets never reach the log; API keys and devices appear by prefix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.auth.models import AuditEvent

LOCAL_ACTOR = "cli:local"  # commands run on the server itself act without a principal


def record(
    session: Session,
    event: str,
    *,
    actor: str | None,
    target: str | None = None,
    outcome: str = "success",
    client_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    row = AuditEvent(
        event=event,
        actor=actor,
        target=target,
        outcome=outcome,
        client_address=client_address,
        details=details or None,
    )
    session.add(row)
    session.flush()
    return row


def list_events(
    session: Session,
    *,
    event: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first; ``before_id`` pages back."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if event:
        query = query.where(AuditEvent.event == event)
    if since:
        query = query.where(AuditEvent.at >= since)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query))
