"""Audit schedules: create, list, pause/resume, and which stores and bays each one covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from shelfscan.audits.models import AuditSchedule
from shelfscan.audits.recurrence import check_rrule
from shelfscan.db import models
from shelfscan.services.errors import Invalid, NotFound
from shelfscan.services.stores import assignment_in_force


class ScopeKind(StrEnum):
    CHAIN = "chain"
    REGION = "region"
    STORE = "store"


class BaySelection(StrEnum):
    ASSIGNED = "assigned"  # every bay with a planogram in force
    CATEGORY = "category"  # bays whose planogram holds products of a category
    LIST = "list"  # bay codes named


@dataclass
class ScheduleSpec:
    name: str
    rrule: str
    starts_on: date
    open_minutes: int = 180
    missed_after_minutes: int = 24 * 60
    notice_minutes: int = 24 * 60
    scope_kind: str = ScopeKind.CHAIN
    scope_codes: list[str] = field(default_factory=list)
    bay_selection: str = BaySelection.ASSIGNED
    bay_category: str | None = None
    bay_codes: list[str] = field(default_factory=list)


def _enum(cls: type[StrEnum], value: str, field_name: str) -> StrEnum:
    try:
        return cls(value)
    except ValueError:
        accepted = ", ".join(v.value for v in cls)  # type: ignore[attr-defined]
        raise Invalid(
            f"invalid_{field_name}",
            f"{field_name} {value!r} is not one of {accepted}",
            field=field_name,
        ) from None


def check_spec(spec: ScheduleSpec) -> ScheduleSpec:
    if not spec.name.strip():
        raise Invalid("invalid_name", "name must not be empty", field="name")
    spec.rrule = check_rrule(spec.rrule, spec.starts_on)
    for name in ("open_minutes", "missed_after_minutes", "notice_minutes"):
        value = getattr(spec, name)
        if not 0 <= value <= 31 * 24 * 60:
            raise Invalid(f"invalid_{name}", f"{name} must be 0 … 44640, got {value}", field=name)
    if spec.open_minutes < 1:
        raise Invalid(
            "invalid_open_minutes", "open_minutes must be at least 1", field="open_minutes"
        )
    kind = _enum(ScopeKind, spec.scope_kind, "scope_kind")
    if kind is ScopeKind.CHAIN and spec.scope_codes:
        raise Invalid("invalid_scope", "a chain-wide schedule takes no codes", field="scope_codes")
    if kind is not ScopeKind.CHAIN and not spec.scope_codes:
        raise Invalid("invalid_scope", f"a {kind.value} schedule needs codes", field="scope_codes")
    selection = _enum(BaySelection, spec.bay_selection, "bay_selection")
    if selection is BaySelection.CATEGORY and not (spec.bay_category or "").strip():
        raise Invalid(
            "invalid_bays", "bay_selection 'category' needs bay_category", field="bay_category"
        )
    if selection is BaySelection.LIST and not spec.bay_codes:
        raise Invalid("invalid_bays", "bay_selection 'list' needs bay_codes", field="bay_codes")
    return spec


def create_schedule(
    session: Session, spec: ScheduleSpec, *, actor: str | None = None
) -> AuditSchedule:
    spec = check_spec(spec)
    if spec.scope_kind == ScopeKind.STORE:
        known = set(
            session.scalars(
                select(models.Store.code).where(models.Store.code.in_(spec.scope_codes))
            )
        )
        missing = sorted(set(spec.scope_codes) - known)
        if missing:
            raise NotFound("not_found", f"store {missing[0]!r} not found", field="scope_codes")
    schedule = AuditSchedule(
        name=spec.name.strip(),
        rrule=spec.rrule,
        starts_on=spec.starts_on.isoformat(),
        open_minutes=spec.open_minutes,
        missed_after_minutes=spec.missed_after_minutes,
        notice_minutes=spec.notice_minutes,
        scope_kind=str(spec.scope_kind),
        scope_codes={"codes": sorted(set(spec.scope_codes))},
        bay_selection=str(spec.bay_selection),
        bay_category=spec.bay_category,
        bay_codes={"codes": list(dict.fromkeys(spec.bay_codes))},
        paused=False,
        created_by=actor,
    )
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(session: Session, schedule_id: int) -> AuditSchedule:
    schedule = session.get(AuditSchedule, schedule_id)
    if schedule is None:
        raise NotFound("not_found", f"audit schedule {schedule_id} not found")
    return schedule


def list_schedules(session: Session) -> list[AuditSchedule]:
    return list(session.scalars(select(AuditSchedule).order_by(AuditSchedule.id)))


def set_paused(session: Session, schedule_id: int, paused: bool) -> AuditSchedule:
    """A paused schedule creates no new occurrences; those already created run their course."""
    schedule = get_schedule(session, schedule_id)
    schedule.paused = paused
    session.flush()
    return schedule


def stores_in_scope(session: Session, schedule: AuditSchedule) -> list[models.Store]:
    query = select(models.Store).order_by(models.Store.code)
    codes = schedule.scope_codes.get("codes") or []
    if schedule.scope_kind == ScopeKind.STORE:
        query = query.where(models.Store.code.in_(codes))
    elif schedule.scope_kind == ScopeKind.REGION:
        query = query.where(models.Store.region.in_(codes))
    return list(session.scalars(query))


def bays_for(
    session: Session, schedule: AuditSchedule, store: models.Store, on: date
) -> list[models.Bay]:
    """The bays ``schedule`` asks to photograph in ``store`` on the local date ``on``; only
    bays with a planogram in force count (a bay without one cannot be checked)."""
    in_force = exists(assignment_in_force(models.Bay.id, on, columns=models.BayAssignment.id))
    query = (
        select(models.Bay)
        .where(models.Bay.store_id == store.id, in_force)
        .order_by(models.Bay.code)
    )
    if schedule.bay_selection == BaySelection.LIST:
        query = query.where(models.Bay.code.in_(schedule.bay_codes.get("codes") or []))
    elif schedule.bay_selection == BaySelection.CATEGORY:
        version_in_force = assignment_in_force(
            models.Bay.id, on, columns=models.BayAssignment.planogram_version_id
        ).scalar_subquery()
        has_category = exists(
            select(models.PlanogramVersionProduct.id)
            .join(models.CatalogProduct)
            .where(
                models.PlanogramVersionProduct.planogram_version_id == version_in_force,
                models.CatalogProduct.category == schedule.bay_category,
            )
        )
        query = query.where(has_category)
    return list(session.scalars(query))
