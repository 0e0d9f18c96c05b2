"""Stores, bays, versioned planograms and which version each bay is measured against.

Published planogram versions are immutable: editing publishes version n+1, and a scan records
the exact version it was checked against. Each bay is assigned versions with effective dates;
:func:`assignment_in_force` is the one query that says which one applies on a day, and
:func:`service_date` the one rule for what "today" is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    cast,
    func,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from shelfscan.db import models
from shelfscan.planogram.canonical import planogram_from_dict, planogram_to_dict
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.model import Planogram
from shelfscan.planogram.publication import CatalogueProduct, PreparedPlanogram, prepare_publication
from shelfscan.planogram.validation import validate_planogram
from shelfscan.services.errors import Conflict, NotFound

# The names the CLI catches; the same classes as every other service's errors.
NotFoundError = NotFound
ConflictError = Conflict


# --- stores and bays -------------------------------------------------------------------------


def create_store(session: Session, code: str, name: str, region: str | None = None) -> models.Store:
    if session.scalar(select(models.Store).where(models.Store.code == code)):
        raise Conflict("conflict", f"store {code!r} already exists")
    store = models.Store(code=code, name=name, region=region)
    session.add(store)
    session.flush()
    return store


def get_store(session: Session, code: str) -> models.Store:
    store = session.scalar(select(models.Store).where(models.Store.code == code))
    if store is None:
        raise NotFound("not_found", f"store {code!r} not found")
    return store


def list_stores(session: Session) -> list[models.Store]:
    return list(session.scalars(select(models.Store).order_by(models.Store.code)))


def create_bay(
    session: Session, store: models.Store, code: str, name: str | None = None
) -> models.Bay:
    existing = session.scalar(
        select(models.Bay).where(models.Bay.store_id == store.id, models.Bay.code == code)
    )
    if existing:
        raise Conflict("conflict", f"bay {code!r} already exists in store {store.code!r}")
    bay = models.Bay(store_id=store.id, code=code, name=name)
    session.add(bay)
    session.flush()
    return bay


def get_bay(session: Session, store: models.Store, code: str) -> models.Bay:
    bay = session.scalar(
        select(models.Bay).where(models.Bay.store_id == store.id, models.Bay.code == code)
    )
    if bay is None:
        raise NotFound("not_found", f"bay {code!r} not found in store {store.code!r}")
    return bay


def list_bays(session: Session, store: models.Store) -> list[models.Bay]:
    return list(
        session.scalars(
            select(models.Bay).where(models.Bay.store_id == store.id).order_by(models.Bay.code)
        )
    )


# --- planograms ------------------------------------------------------------------------------


def publish_planogram(
    session: Session,
    planogram: Planogram,
    *,
    source_format: str = "canonical",
    comment: str | None = None,
) -> models.PlanogramVersion:
    """Validate and publish ``planogram`` as the next version of its id.

    Publishing a document identical to the latest version returns that version instead of
    creating a duplicate, so retried imports are harmless. Invalid planograms store nothing.
    """
    problems = validate_planogram(planogram)
    if problems:
        raise PlanogramError(problems)
    version = publish_prepared(
        session, prepare_publication(planogram), source_format=source_format, comment=comment
    )
    if "document" in inspect(version).unloaded:
        # Just inserted from its encoded text: the caller's planogram is what it holds, so a
        # later ``version.document`` (even after the session closes) needs no reload.
        set_committed_value(version, "document", planogram_to_dict(planogram))
    return version


def publish_prepared(
    session: Session,
    prepared: PreparedPlanogram,
    *,
    source_format: str = "canonical",
    comment: str | None = None,
) -> models.PlanogramVersion:
    """Publish a planogram validated, dumped, hashed and encoded elsewhere (the API's worker
    process): only database work here, as :func:`publish_planogram` does it (identical to the
    latest version: that version; else version n+1, its products linked to the product master).

    The document is stored from its encoded text and not loaded back: ``document`` of a new
    version is read from the database on first access.
    """
    record = session.scalar(select(models.Planogram).where(models.Planogram.key == prepared.key))
    if record is None:
        record = models.Planogram(key=prepared.key, name=prepared.name)
        session.add(record)
        session.flush()
    latest = _latest_version(session, record.id, with_document=False)
    if latest is not None and latest.sha256 == prepared.sha256:
        return latest
    record.name = prepared.name or record.name
    version = models.PlanogramVersion(
        planogram_id=record.id,
        version=(latest.version + 1) if latest else 1,
        document=_encoded_json(session, prepared.document_json),
        sha256=prepared.sha256,
        source_format=source_format,
        comment=comment,
    )
    session.add(version)
    session.flush()
    # The attribute still holds the bound text (a plain bind is not fetched back): loaded
    # from the database on first access instead.
    session.expire(version, ["document"])
    for product in prepared.products:
        catalog_product = _upsert_catalog_product(session, product, prepared.unit)
        session.add(
            models.PlanogramVersionProduct(
                planogram_version_id=version.id,
                product_key=product.key,
                catalog_product_id=catalog_product.id,
            )
        )
    session.flush()
    return version


def _encoded_json(session: Session, text: str) -> ColumnElement[Any]:
    """JSON text bound as it is, for a JSON column: the column's own bind step would want a
    dict and encode it again (one long call holding the GIL for a large document)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(literal(text, Text), JSONB)
    # SQLite keeps JSON as text; no CAST (a cast to JSON would take numeric affinity).
    return literal(text, Text)


def _upsert_catalog_product(
    session: Session, product: CatalogueProduct, unit: str
) -> models.CatalogProduct:
    """The product master entry: matched by GTIN, else by name among products without one."""
    if product.gtin:
        query = select(models.CatalogProduct).where(models.CatalogProduct.gtin == product.gtin)
    else:
        query = select(models.CatalogProduct).where(
            models.CatalogProduct.gtin.is_(None), models.CatalogProduct.name == product.name
        )
    entry = session.scalar(query)
    if entry is None:
        entry = models.CatalogProduct(gtin=product.gtin, name=product.name)
        session.add(entry)
    entry.name = product.name
    entry.brand = product.brand or entry.brand
    entry.category = product.category or entry.category
    entry.width, entry.height, entry.depth = product.w, product.h, product.depth
    entry.unit = unit
    session.flush()
    return entry


def _latest_version(
    session: Session, planogram_pk: int, *, with_document: bool = True
) -> models.PlanogramVersion | None:
    query = (
        select(models.PlanogramVersion)
        .where(models.PlanogramVersion.planogram_id == planogram_pk)
        .order_by(models.PlanogramVersion.version.desc())
        .limit(1)
    )
    if not with_document:  # loaded on access; decoding a large one holds the GIL
        query = query.options(defer(models.PlanogramVersion.document))
    return session.scalar(query)


def list_planograms(session: Session) -> list[tuple[models.Planogram, int]]:
    """Every planogram with its latest version number."""
    latest = (
        select(
            models.PlanogramVersion.planogram_id,
            func.max(models.PlanogramVersion.version).label("latest"),
        )
        .group_by(models.PlanogramVersion.planogram_id)
        .subquery()
    )
    rows = session.execute(
        select(models.Planogram, latest.c.latest)
        .join(latest, latest.c.planogram_id == models.Planogram.id)
        .order_by(models.Planogram.key)
    )
    return [(planogram, int(version)) for planogram, version in rows]


def get_planogram_version(
    session: Session, key: str, version: int | None = None
) -> models.PlanogramVersion:
    record = session.scalar(select(models.Planogram).where(models.Planogram.key == key))
    if record is None:
        raise NotFound("not_found", f"planogram {key!r} not found")
    if version is None:
        found = _latest_version(session, record.id)
    else:
        found = session.scalar(
            select(models.PlanogramVersion).where(
                models.PlanogramVersion.planogram_id == record.id,
                models.PlanogramVersion.version == version,
            )
        )
    if found is None:
        raise NotFound("not_found", f"planogram {key!r} has no version {version}")
    return found


def list_versions(session: Session, key: str) -> list[models.PlanogramVersion]:
    record = session.scalar(select(models.Planogram).where(models.Planogram.key == key))
    if record is None:
        raise NotFound("not_found", f"planogram {key!r} not found")
    return list(record.versions)


def planogram_from_version(version: models.PlanogramVersion | dict[str, Any]) -> Planogram:
    """The planogram a stored version holds (its row or its ``document``), validated; the one
    way every caller (routes, the worker, the CLI) rebuilds it."""
    document = version if isinstance(version, dict) else version.document
    return planogram_from_dict(document)


# --- bay assignments -------------------------------------------------------------------------


def assign_planogram(
    session: Session,
    bay: models.Bay,
    version: models.PlanogramVersion,
    effective_from: date,
    effective_to: date | None = None,
) -> models.BayAssignment:
    """Measure ``bay`` against ``version`` from ``effective_from``.

    An open-ended earlier assignment is closed the day the new one starts; assignments that
    would overlap otherwise are refused.
    """
    if effective_to is not None and effective_to <= effective_from:
        raise Conflict("conflict", "effective_to must be after effective_from")
    # Two assignments racing would each see the other's dates free: take the bay's row lock
    # (a no-op update; on SQLite the database's write lock) before reading its assignments.
    session.execute(update(models.Bay).where(models.Bay.id == bay.id).values(code=models.Bay.code))
    session.expire(bay, ["assignments"])
    for existing in bay.assignments:
        if existing.effective_from >= effective_from:
            if effective_to is None or existing.effective_from < effective_to:
                raise Conflict(
                    "conflict",
                    f"bay {bay.code!r} already has an assignment from {existing.effective_from}",
                )
            continue
        existing_end = existing.effective_to
        if existing_end is None:
            existing.effective_to = effective_from
        elif existing_end > effective_from:
            raise Conflict(
                "conflict",
                f"bay {bay.code!r} is assigned until {existing_end}; start on or after it",
            )
    assignment = models.BayAssignment(
        store_id=bay.store_id,
        bay_id=bay.id,
        planogram_version_id=version.id,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    session.add(assignment)
    session.flush()
    session.refresh(bay)
    return assignment


def service_date(now: datetime | None = None) -> date:
    """The day an assignment is looked up for when none is given: the UTC date.

    Stores carry no time zone yet, so every "today" in shelfscan (uploads, the bay pages,
    the CLI) is the UTC calendar date; once stores have a zone, this is where its local date
    goes. Between local midnight and UTC midnight a store east or west of UTC is therefore
    still on the previous (or already on the next) day's assignment.
    """
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def assignment_in_force(bay_id: Any, on: date, *, columns: Any = None) -> Select[Any]:
    """The select of a bay's assignment in force on ``on``: ``effective_from <= on <
    effective_to`` (open-ended when ``effective_to`` is null); when several qualify the latest
    start wins, then the latest created.

    ``bay_id`` may be a column (a correlated subquery, as the upload look-up uses it) or a
    value; ``columns`` picks what is selected (default: the assignment row).
    """
    return (
        select(models.BayAssignment if columns is None else columns)
        .where(
            models.BayAssignment.bay_id == bay_id,
            models.BayAssignment.effective_from <= on,
            or_(
                models.BayAssignment.effective_to.is_(None), models.BayAssignment.effective_to > on
            ),
        )
        .order_by(models.BayAssignment.effective_from.desc(), models.BayAssignment.id.desc())
        .limit(1)
    )


def assignment_for_bay(
    session: Session, bay_id: int, on_date: date | None = None
) -> models.BayAssignment | None:
    """The assignment in force on ``on_date`` (default: :func:`service_date`)."""
    return session.scalar(assignment_in_force(bay_id, on_date or service_date()))


def other_bays_planograms(
    session: Session, store_id: int, bay_id: int, on_date: date | None = None
) -> dict[str, Planogram]:
    """The planograms in force on the store's other bays (bay code → planogram): the
    candidates a wrong-bay photo is compared with (``compliance.trust.most_likely_bay``)."""
    on = on_date or service_date()
    candidates: dict[str, Planogram] = {}
    bays = session.scalars(
        select(models.Bay)
        .where(models.Bay.store_id == store_id, models.Bay.id != bay_id)
        .order_by(models.Bay.code)
    )
    for bay in bays:
        assignment = assignment_for_bay(session, bay.id, on)
        if assignment is not None:
            candidates[bay.code] = planogram_from_version(assignment.planogram_version)
    return candidates


def planogram_version_for_bay(
    session: Session, bay_id: int, on_date: date | None = None
) -> models.PlanogramVersion | None:
    assignment = assignment_for_bay(session, bay_id, on_date)
    return assignment.planogram_version if assignment else None
