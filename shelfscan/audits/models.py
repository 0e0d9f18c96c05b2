"""Tables of scheduled store audits, on the project's declarative ``Base`` (Alembic's
``env.py`` imports this module so the model-vs-migration test sees them).

A *schedule* says when (an RFC 5545 RRULE evaluated in each store's time zone), where (chain,
regions or stores) and what (bays). The ticker turns it into *occurrences*, one per
(schedule, store, due time) — the unique key that makes any number of tickers safe. Scans are
linked to occurrences; each action a scan finds becomes a *corrective task*. Events go out as
signed *webhook deliveries*.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shelfscan.db.base import Base, UTCDateTime, utcnow


class AuditSchedule(Base):
    __tablename__ = "audit_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # RRULE body without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0. Each instance
    # is the local wall-clock time the audit *opens* in the store's zone.
    rrule: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[str] = mapped_column(String(10), doc="Local date of DTSTART, YYYY-MM-DD")
    open_minutes: Mapped[int] = mapped_column(Integer, doc="Opens → due: the window")
    missed_after_minutes: Mapped[int] = mapped_column(Integer, doc="Due → missed (overdue)")
    notice_minutes: Mapped[int] = mapped_column(Integer, doc="Created (upcoming) before opening")
    scope_kind: Mapped[str] = mapped_column(String(16), doc="chain, region or store")
    scope_codes: Mapped[dict[str, Any]] = mapped_column(doc='{"codes": [...]} (regions/stores)')
    bay_selection: Mapped[str] = mapped_column(String(16), doc="assigned, category or list")
    bay_category: Mapped[str | None] = mapped_column(String(255))
    bay_codes: Mapped[dict[str, Any]] = mapped_column(doc='{"codes": [...]} for a list')
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditOccurrence(Base):
    __tablename__ = "audit_occurrences"
    __table_args__ = (
        UniqueConstraint("schedule_id", "store_id", "due_at"),
        Index("ix_audit_occurrences_state_due", "state", "due_at"),
        Index("ix_audit_occurrences_store_opens", "store_id", "opens_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("audit_schedules.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    time_zone: Mapped[str] = mapped_column(String(64))
    local_start: Mapped[str] = mapped_column(String(19), doc="Wall-clock opening, for people")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    missed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    bay_ids: Mapped[dict[str, Any]] = mapped_column(doc='{"ids": [...]}: the bays, fixed')
    due_soon_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditOccurrenceScan(Base):
    """A scan counted towards an occurrence; ``conclusive`` is null while it is analysed."""

    __tablename__ = "audit_occurrence_scans"
    __table_args__ = (UniqueConstraint("occurrence_id", "scan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("audit_occurrences.id", ondelete="CASCADE"), index=True
    )
    bay_id: Mapped[int] = mapped_column(ForeignKey("bays.id", ondelete="CASCADE"))
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    conclusive: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CorrectiveTask(Base):
    """One clerk action of a scan, owned by the store until a later scan (or a manager)
    closes it."""

    __tablename__ = "audit_tasks"
    __table_args__ = (
        UniqueConstraint("scan_id", "number"),
        Index("ix_audit_tasks_store_state", "store_id", "state"),
        Index("ix_audit_tasks_bay_state", "bay_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    bay_id: Mapped[int] = mapped_column(ForeignKey("bays.id", ondelete="CASCADE"))
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"))
    occurrence_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_occurrences.id", ondelete="SET NULL"), index=True
    )
    number: Mapped[int] = mapped_column(Integer, doc="The action's number in its scan")
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(String(128))
    facing_ids: Mapped[dict[str, Any]] = mapped_column(doc='{"ids": [...]}')
    detection_ids: Mapped[dict[str, Any]] = mapped_column(doc='{"ids": [...]}')
    out_of_stock: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="open")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(255), doc="'scan' or who closed it")
    close_reason: Mapped[str | None] = mapped_column(Text)
    closing_scan_id: Mapped[str | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    evidence: Mapped[dict[str, Any]] = mapped_column(
        doc='{"before": [{facing_id, scan_id, key}], "after": [...]}'
    )


class WebhookEndpoint(Base):
    __tablename__ = "audit_webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(255), default="")
    # Several secrets while one is rotated out: every delivery is signed with each.
    secrets: Mapped[dict[str, Any]] = mapped_column(doc='{"secrets": ["whsec_…", …]}')
    event_types: Mapped[dict[str, Any]] = mapped_column(doc='{"types": [...]} (empty: all)')
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "audit_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_audit_webhook_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("audit_webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(64), doc="webhook-id: same on every retry")
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[dict[str, Any]] = mapped_column(doc='{"attempts": [{at, status, error, ms}]}')
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
