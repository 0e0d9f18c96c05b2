"""Occurrences: created by the ticker, moved through their states, completed by scans.

States::

    upcoming ─(opens)→ open ─(first scan)→ in_progress ─(every bay conclusive)→ done
                         └──────(due time passes)──→ overdue ─(grace passes)→ missed
                                                       └─(every bay conclusive)→ done (late)

Every transition is one conditional ``UPDATE … WHERE state = <from>``: of any number of
tickers (threads, processes, hosts) exactly one sees its update change the row, and only that
one emits the event. Creation relies on the unique key (schedule, store, due time) with
``INSERT … ON CONFLICT DO NOTHING`` on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shelfscan.audits import webhooks
from shelfscan.audits.models import AuditOccurrence, AuditOccurrenceScan, AuditSchedule
from shelfscan.audits.recurrence import check_time_zone, instances_between
from shelfscan.audits.schedules import bays_for, stores_in_scope
from shelfscan.auth.service import store_time_zone
from shelfscan.db import models
from shelfscan.db.base import utcnow
from shelfscan.services.errors import Conflict, NotFound

log = logging.getLogger("shelfscan.audits")

# A ticker that was down catches up on occurrences that opened this long ago (they are created
# and immediately moved on: open, overdue or missed), no further: a schedule added with an old
# start date does not fill the table with months of missed audits.
CATCH_UP = timedelta(days=7)
# PostgreSQL advisory lock key of the ticker ("shelfscan audits" as a number).
TICK_LOCK_KEY = 0x5348454C46_1600


class OccurrenceState(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    OVERDUE = "overdue"
    MISSED = "missed"


ACTIVE_STATES = (OccurrenceState.OPEN, OccurrenceState.IN_PROGRESS, OccurrenceState.OVERDUE)


@dataclass
class TickResult:
    created: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def count(self, state: str) -> None:
        self.transitions[state] = self.transitions.get(state, 0) + 1


def _insert_ignoring_duplicates(session: Session, values: dict[str, Any]) -> bool:
    """Insert one occurrence unless its (schedule, store, due time) exists; True if inserted.

    The answer is the id the insert returns, not the cursor's row count: SQLAlchemy adds an
    implicit ``RETURNING id`` to a single-row insert, and psycopg then reports a row count of
    -1 whether or not a row went in (SQLite happens to report 1)."""
    dialect = session.get_bind().dialect.name
    table = AuditOccurrence.__table__
    if dialect == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(dialect)
    inserted_id = session.execute(statement.returning(table.c.id)).scalar_one_or_none()
    return inserted_id is not None


def _state_at(now: datetime, opens_at: datetime, due_at: datetime, missed_at: datetime) -> str:
    if now >= missed_at:
        return OccurrenceState.MISSED
    if now >= due_at:
        return OccurrenceState.OVERDUE
    if now >= opens_at:
        return OccurrenceState.OPEN
    return OccurrenceState.UPCOMING


def create_due_occurrences(session: Session, now: datetime, result: TickResult) -> None:
    """Create every occurrence of an active schedule whose opening is within its notice
    period (or up to :data:`CATCH_UP` in the past). New rows start ``upcoming``; the state
    step below moves them on (and emits their events) in the same tick."""
    schedules = session.scalars(select(AuditSchedule).where(AuditSchedule.paused.is_(False)))
    for schedule in list(schedules):
        for store in stores_in_scope(session, schedule):
            zone_name = store_time_zone(session, store)
            zone = check_time_zone(zone_name)
            instances = instances_between(
                schedule.rrule,
                date.fromisoformat(schedule.starts_on),
                zone,
                open_minutes=schedule.open_minutes,
                missed_after_minutes=schedule.missed_after_minutes,
                opens_from=now - CATCH_UP,
                opens_until=now + timedelta(minutes=schedule.notice_minutes),
            )
            for instance in instances:
                bays = bays_for(session, schedule, store, instance.local_start.date())
                if not bays:
                    continue  # nothing to photograph that day: no occurrence
                inserted = _insert_ignoring_duplicates(
                    session,
                    {
                        "schedule_id": schedule.id,
                        "store_id": store.id,
                        "time_zone": zone_name,
                        "local_start": instance.local_start.isoformat(timespec="seconds"),
                        "opens_at": instance.opens_at,
                        "due_at": instance.due_at,
                        "missed_at": instance.missed_at,
                        "state": OccurrenceState.UPCOMING.value,
                        "bay_ids": {"ids": [bay.id for bay in bays]},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                result.created += int(inserted)


def _transition(
    session: Session, occurrence_id: int, from_states: tuple[str, ...], **values: Any
) -> bool:
    changed = session.execute(
        update(AuditOccurrence)
        .where(AuditOccurrence.id == occurrence_id, AuditOccurrence.state.in_(from_states))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return changed.rowcount == 1  # type: ignore[attr-defined]


def event_data(session: Session, occurrence: AuditOccurrence) -> dict[str, Any]:
    store = session.get(models.Store, occurrence.store_id)
    schedule = session.get(AuditSchedule, occurrence.schedule_id)
    return {
        "occurrence_id": occurrence.id,
        "schedule_id": occurrence.schedule_id,
        "schedule": schedule.name if schedule else None,
        "store": store.code if store else None,
        "opens_at": occurrence.opens_at.isoformat(),
        "due_at": occurrence.due_at.isoformat(),
        "local_start": occurrence.local_start,
        "time_zone": occurrence.time_zone,
    }


def advance_states(
    session: Session, now: datetime, result: TickResult, *, due_soon: timedelta
) -> None:
    """Move every occurrence whose time has come; each move emits its event once."""
    candidates = session.scalars(
        select(AuditOccurrence).where(
            AuditOccurrence.state.in_([OccurrenceState.UPCOMING, *ACTIVE_STATES]),
            AuditOccurrence.opens_at <= now + due_soon,
        )
    )
    for occurrence in list(candidates):
        target = _state_at(now, occurrence.opens_at, occurrence.due_at, occurrence.missed_at)
        state = occurrence.state
        steps: list[tuple[tuple[str, ...], str, str]] = []
        if state == OccurrenceState.UPCOMING and target != OccurrenceState.UPCOMING:
            steps.append(((OccurrenceState.UPCOMING,), OccurrenceState.OPEN, "occurrence.opened"))
            state = OccurrenceState.OPEN
        if state in (OccurrenceState.OPEN, OccurrenceState.IN_PROGRESS) and target in (
            OccurrenceState.OVERDUE,
            OccurrenceState.MISSED,
        ):
            steps.append(
                (
                    (OccurrenceState.OPEN, OccurrenceState.IN_PROGRESS),
                    OccurrenceState.OVERDUE,
                    "occurrence.overdue",
                )
            )
            state = OccurrenceState.OVERDUE
        if state == OccurrenceState.OVERDUE and target == OccurrenceState.MISSED:
            steps.append(((OccurrenceState.OVERDUE,), OccurrenceState.MISSED, "occurrence.missed"))
        for from_states, to_state, event in steps:
            if not _transition(session, occurrence.id, from_states, state=to_state, updated_at=now):
                break  # another ticker (or a scan) moved it first: it emits, not us
            result.count(to_state)
            result.events += webhooks.emit(session, event, event_data(session, occurrence), now)
        # Due soon: once, while still open, within the notice before the due time.
        if (
            occurrence.due_soon_sent_at is None
            and occurrence.opens_at <= now < occurrence.due_at
            and occurrence.due_at - now <= due_soon
            and session.execute(
                update(AuditOccurrence)
                .where(
                    AuditOccurrence.id == occurrence.id,
                    AuditOccurrence.due_soon_sent_at.is_(None),
                    AuditOccurrence.state.in_([OccurrenceState.OPEN, OccurrenceState.IN_PROGRESS]),
                )
                .values(due_soon_sent_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            == 1
        ):
            result.events += webhooks.emit(
                session, "occurrence.due_soon", event_data(session, occurrence), now
            )


def take_tick_lock(session: Session) -> None:
    """Serialise tickers for the rest of the transaction: PostgreSQL's transaction advisory
    lock; on SQLite a write statement (it takes the database's one write lock up front, so a
    ticker never has to upgrade a read lock, which SQLite answers with 'database is locked')."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TICK_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_schedules SET id = id WHERE 0"))


def tick(
    session: Session, now: datetime | None = None, *, due_soon: timedelta = timedelta(hours=1)
) -> TickResult:
    """One pass of the ticker at ``now``: create due occurrences, advance states. Commits.

    Safe to run from any number of processes at once (see the module docstring); on
    PostgreSQL a transaction-level advisory lock additionally serialises tickers, so they do
    not all do the same work."""
    now = now or utcnow()
    result = TickResult()
    take_tick_lock(session)
    create_due_occurrences(session, now, result)
    session.flush()
    advance_states(session, now, result, due_soon=due_soon)
    session.commit()
    return result


# --- reading -------------------------------------------------------------------------------


def get_occurrence(session: Session, occurrence_id: int) -> AuditOccurrence:
    occurrence = session.get(AuditOccurrence, occurrence_id)
    if occurrence is None:
        raise NotFound("not_found", f"audit occurrence {occurrence_id} not found")
    return occurrence


def list_occurrences(
    session: Session,
    *,
    store_id: int | None = None,
    store_ids: Select[tuple[int]] | None = None,
    schedule_id: int | None = None,
    states: list[str] | None = None,
    opens_from: datetime | None = None,
    opens_until: datetime | None = None,
    limit: int = 500,
) -> list[AuditOccurrence]:
    query = select(AuditOccurrence).order_by(AuditOccurrence.opens_at, AuditOccurrence.id)
    if store_id is not None:
        query = query.where(AuditOccurrence.store_id == store_id)
    if store_ids is not None:  # the scope filter's sub-select, applied before the limit
        query = query.where(AuditOccurrence.store_id.in_(store_ids))
    if schedule_id is not None:
        query = query.where(AuditOccurrence.schedule_id == schedule_id)
    if states:
        query = query.where(AuditOccurrence.state.in_(states))
    if opens_from is not None:
        query = query.where(AuditOccurrence.opens_at >= opens_from)
    if opens_until is not None:
        query = query.where(AuditOccurrence.opens_at < opens_until)
    return list(session.scalars(query.limit(limit)))


# --- scans ---------------------------------------------------------------------------------


def scan_is_conclusive(scan: models.Scan) -> bool:
    """A finished scan whose report can be trusted (schema 1.2's ``trust``; a report without
    a trust check counts as conclusive)."""
    if scan.status != "done" or not scan.report:
        return False
    trust = scan.report.get("trust")
    return not (isinstance(trust, dict) and trust.get("conclusive") is False)


def link_scan(
    session: Session, occurrence: AuditOccurrence, scan: models.Scan, now: datetime | None = None
) -> AuditOccurrenceScan:
    """Count ``scan`` towards ``occurrence`` (explicitly, from the checklist)."""
    now = now or utcnow()
    if scan.store_id != occurrence.store_id:
        raise Conflict(
            "wrong_store", "the scan is of another store than the occurrence", field="scan_id"
        )
    if scan.bay_id not in occurrence.bay_ids["ids"]:
        raise Conflict(
            "bay_not_in_audit", "the scan's bay is not part of this audit", field="scan_id"
        )
    if occurrence.state in (OccurrenceState.UPCOMING, OccurrenceState.MISSED):
        raise Conflict(
            "occurrence_not_open",
            f"the audit is {occurrence.state}, not open",
            field="occurrence",
        )
    link = session.scalar(
        select(AuditOccurrenceScan).where(
            AuditOccurrenceScan.occurrence_id == occurrence.id,
            AuditOccurrenceScan.scan_id == scan.id,
        )
    )
    if link is None:
        link = AuditOccurrenceScan(
            occurrence_id=occurrence.id, bay_id=scan.bay_id, scan_id=scan.id, created_at=now
        )
        session.add(link)
    if scan.status not in ("queued", "processing"):
        link.conclusive = scan_is_conclusive(scan)
    session.flush()
    if _transition(
        session,
        occurrence.id,
        (OccurrenceState.OPEN,),
        state=OccurrenceState.IN_PROGRESS,
        started_at=now,
        updated_at=now,
    ):
        pass
    complete_if_done(session, occurrence.id, now)
    return link


def open_occurrences_for(session: Session, scan: models.Scan) -> list[AuditOccurrence]:
    """Active occurrences of the scan's store that include its bay and had opened when the
    scan was taken."""
    taken = scan.created_at
    rows = session.scalars(
        select(AuditOccurrence).where(
            AuditOccurrence.store_id == scan.store_id,
            AuditOccurrence.state.in_(list(ACTIVE_STATES)),
            AuditOccurrence.opens_at <= taken,
        )
    )
    return [o for o in rows if scan.bay_id in o.bay_ids["ids"]]


def complete_if_done(session: Session, occurrence_id: int, now: datetime) -> bool:
    occurrence = session.get(AuditOccurrence, occurrence_id)
    assert occurrence is not None
    conclusive_bays = set(
        session.scalars(
            select(AuditOccurrenceScan.bay_id).where(
                AuditOccurrenceScan.occurrence_id == occurrence_id,
                AuditOccurrenceScan.conclusive.is_(True),
            )
        )
    )
    if not set(occurrence.bay_ids["ids"]) <= conclusive_bays:
        return False
    if not _transition(
        session,
        occurrence_id,
        tuple(ACTIVE_STATES),
        state=OccurrenceState.DONE,
        completed_at=now,
        updated_at=now,
    ):
        return False
    session.refresh(occurrence)
    webhooks.emit(session, "occurrence.done", event_data(session, occurrence), now)
    return True


def record_scan(session: Session, scan: models.Scan, now: datetime) -> list[int]:
    """A scan finished (or was linked): mark its links conclusive or not, link it to the open
    occurrences of its bay, complete those with every bay covered. Returns occurrence ids."""
    conclusive = scan_is_conclusive(scan)
    touched = []
    existing = {
        link.occurrence_id: link
        for link in session.scalars(
            select(AuditOccurrenceScan).where(AuditOccurrenceScan.scan_id == scan.id)
        )
    }
    for occurrence in open_occurrences_for(session, scan):
        if occurrence.id not in existing:
            existing[occurrence.id] = AuditOccurrenceScan(
                occurrence_id=occurrence.id, bay_id=scan.bay_id, scan_id=scan.id, created_at=now
            )
            session.add(existing[occurrence.id])
    for occurrence_id, link in existing.items():
        link.conclusive = conclusive
        session.flush()
        _transition(
            session,
            occurrence_id,
            (OccurrenceState.OPEN,),
            state=OccurrenceState.IN_PROGRESS,
            started_at=now,
            updated_at=now,
        )
        complete_if_done(session, occurrence_id, now)
        touched.append(occurrence_id)
    return touched


# --- checklist -----------------------------------------------------------------------------


def bay_progress(session: Session, occurrence: AuditOccurrence) -> list[dict[str, Any]]:
    """Per bay of the occurrence: ``done`` (a conclusive scan), ``retake`` (the latest scan
    was inconclusive), ``processing`` (a scan is being analysed) or ``to_photograph``."""
    links = list(
        session.scalars(
            select(AuditOccurrenceScan)
            .where(AuditOccurrenceScan.occurrence_id == occurrence.id)
            .order_by(AuditOccurrenceScan.created_at, AuditOccurrenceScan.id)
        )
    )
    bays = {
        bay.id: bay
        for bay in session.scalars(
            select(models.Bay).where(models.Bay.id.in_(occurrence.bay_ids["ids"]))
        )
    }
    rows = []
    for bay_id in occurrence.bay_ids["ids"]:
        bay = bays.get(bay_id)
        if bay is None:
            continue
        mine = [link for link in links if link.bay_id == bay_id]
        if any(link.conclusive for link in mine):
            status, scan_id = "done", next(link.scan_id for link in mine if link.conclusive)
        elif mine and mine[-1].conclusive is None:
            status, scan_id = "processing", mine[-1].scan_id
        elif mine:
            status, scan_id = "retake", mine[-1].scan_id
        else:
            status, scan_id = "to_photograph", None
        rows.append({"bay": bay.code, "name": bay.name, "status": status, "scan_id": scan_id})
    return rows
