"""Stores, their bays and which planogram version each bay is measured against."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from shelfscan.api.deps import DbSession
from shelfscan.api.schemas import AssignmentIn, AssignmentOut, BayIn, BayOut, StoreIn, StoreOut
from shelfscan.api.security import CurrentPrincipal
from shelfscan.auth.scope import visible_stores
from shelfscan.db import models
from shelfscan.services.stores import (
    assign_planogram,
    assignment_for_bay,
    create_bay,
    create_store,
    get_bay,
    get_planogram_version,
    get_store,
    list_bays,
    service_date,
)

router = APIRouter(prefix="/api/v1/stores", tags=["stores"])


def _assignment_out(assignment: models.BayAssignment) -> AssignmentOut:
    version = assignment.planogram_version
    return AssignmentOut(
        planogram=version.planogram.key,
        version=version.version,
        effective_from=assignment.effective_from,
        effective_to=assignment.effective_to,
    )


def _bay_out(session: DbSession, bay: models.Bay) -> BayOut:
    current = assignment_for_bay(session, bay.id, service_date())
    return BayOut(
        code=bay.code,
        name=bay.name,
        current_planogram=_assignment_out(current) if current else None,
        assignments=[_assignment_out(a) for a in bay.assignments],
    )


@router.post("", status_code=201, response_model=StoreOut, summary="Create a store")
def create(body: StoreIn, session: DbSession) -> models.Store:
    return create_store(session, body.code, body.name, body.region)


@router.get("", response_model=list[StoreOut], summary="List the stores in the caller's scope")
def list_all(session: DbSession, principal: CurrentPrincipal) -> list[models.Store]:
    return visible_stores(session, principal)


@router.get("/{store_code}", response_model=StoreOut, summary="A store")
def get_one(store_code: str, session: DbSession) -> models.Store:
    return get_store(session, store_code)


@router.post(
    "/{store_code}/bays", status_code=201, response_model=BayOut, summary="Add a bay to a store"
)
def add_bay(store_code: str, body: BayIn, session: DbSession) -> BayOut:
    bay = create_bay(session, get_store(session, store_code), body.code, body.name)
    return _bay_out(session, bay)


@router.get("/{store_code}/bays", response_model=list[BayOut], summary="A store's bays")
def bays(store_code: str, session: DbSession) -> list[BayOut]:
    return [_bay_out(session, bay) for bay in list_bays(session, get_store(session, store_code))]


@router.get("/{store_code}/bays/{bay_code}", response_model=BayOut, summary="A bay")
def bay(store_code: str, bay_code: str, session: DbSession) -> BayOut:
    return _bay_out(session, get_bay(session, get_store(session, store_code), bay_code))


@router.post(
    "/{store_code}/bays/{bay_code}/assignments",
    status_code=201,
    response_model=AssignmentOut,
    summary="Assign a planogram version to a bay from a date",
)
def assign(store_code: str, bay_code: str, body: AssignmentIn, session: DbSession) -> AssignmentOut:
    target = get_bay(session, get_store(session, store_code), bay_code)
    version = get_planogram_version(session, body.planogram, body.version)
    assignment = assign_planogram(session, target, version, body.effective_from, body.effective_to)
    return _assignment_out(assignment)


@router.get(
    "/{store_code}/bays/{bay_code}/planogram",
    summary="The planogram version in force for a bay on a date (default: today, UTC)",
    response_model=AssignmentOut | None,
)
def planogram_on(
    store_code: str, bay_code: str, session: DbSession, on: date | None = None
) -> AssignmentOut | None:
    target = get_bay(session, get_store(session, store_code), bay_code)
    assignment = assignment_for_bay(session, target.id, on or service_date())
    return _assignment_out(assignment) if assignment else None
