"""Writing facts: a finished scan's facing verdicts as rows, and everything derived from them.

:func:`record_scan` is called by :func:`shelfscan.services.scans.finish` in the same
transaction (so the in-process runner and Celery both do it) and is idempotent per scan: a
scan already recorded is left alone. Derived tables are kept equal to an aggregation of the
facts:

* daily rollups (``analytics_daily_bay``, ``analytics_daily_product``) are re-aggregated for
  the scan's bay and local day (a few rows) — so replays and late scans cannot double count;
* facing states (recent verdicts) and problem episodes (time to fix) advance by one scan; a
  scan older than the bay's newest one replays the bay's history instead.

:func:`rebuild` recomputes every table from the scans' reports (``shelfscan analytics rebuild``,
the backfill of migration 0004); :func:`refresh_rollups` and :func:`rebuild_history` do the
derived part in set-based SQL for bulk loads (the synthetic chain, benchmarks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shelfscan.analytics import fix_histogram
from shelfscan.analytics.models import (
    HISTORY_LENGTH,
    PROBLEM_STATUSES,
    DailyBay,
    DailyFix,
    DailyProduct,
    DailyStore,
    DimDate,
    DimProduct,
    FacingState,
    FactFacing,
    FactScan,
    ProblemEpisode,
    RegionDailyProduct,
)

log = logging.getLogger(__name__)

PLANNED_STATUSES = ("ok", "gap", "misplaced")  # a planned facing in view: the denominator V
HOLDING_STATUSES = ("ok", "misplaced", "unexpected")  # a facing holding some product


@dataclass(frozen=True)
class ScanPlace:
    """Where and when a scan was taken, as its facts record it."""

    scan_id: str
    store_id: int
    region: str | None
    bay_id: int
    scanned_at: datetime
    time_zone: str = "UTC"
    planogram_version_id: int | None = None
    photo_key: str | None = None
    source: str = "scan"

    @property
    def scan_date(self) -> date:
        return local_date(self.scanned_at, self.time_zone)


@dataclass(frozen=True)
class ProductInfo:
    name: str
    brand: str | None = None
    category: str | None = None


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(at: datetime, time_zone: str = "UTC") -> date:
    """The store's calendar day of an instant (naive instants are UTC)."""
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(_zone(time_zone)).date()


def week_start(day: date) -> date:
    """Monday of the ISO week of ``day``: the key of every weekly figure."""
    return day - timedelta(days=day.weekday())


def date_row(day: date) -> dict[str, Any]:
    iso = day.isocalendar()
    return {
        "day": day,
        "week_start": week_start(day),
        "iso_year": iso.year,
        "iso_week": iso.week,
        "weekday": iso.weekday,
        "month": f"{day.year:04d}-{day.month:02d}",
    }


def is_conclusive(report: Mapping[str, Any]) -> bool:
    """Inconclusive scans (wrong bay, unreadable photo) count for nothing: no score, no fact."""
    trust = report.get("trust")
    return not (isinstance(trust, Mapping) and trust.get("conclusive") is False)


def fact_rows(
    place: ScanPlace, report: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A report as one scan row and its facing rows (planned facings, then unexpected
    products inside the bay). Pure: no database."""
    day = place.scan_date
    common = {
        "scan_id": place.scan_id,
        "store_id": place.store_id,
        "region": place.region,
        "bay_id": place.bay_id,
        "scanned_at": place.scanned_at,
        "scan_date": day,
        "week_start": week_start(day),
        "planogram_version_id": place.planogram_version_id,
        "photo_key": place.photo_key,
    }
    rows: list[dict[str, Any]] = []
    counts = dict.fromkeys(("ok", "gap", "misplaced", "not_visible", "unexpected"), 0)
    for facing in report.get("facings", ()):
        status = str(facing["status"])
        counts[status] = counts.get(status, 0) + 1
        found = facing.get("found_product_id") or facing.get("found_label")
        if status == "gap":
            found = None
        rows.append(
            common
            | {
                "fixture_id": facing.get("fixture_id"),
                "facing_id": facing.get("facing_id"),
                "planned_product": facing.get("product_id"),
                "found_product": found,
                "status": status,
                "reason": facing.get("reason"),
            }
        )
    for extra in report.get("unexpected", ()):
        if not extra.get("fixture_id"):  # outside the bay: not part of any score
            continue
        counts["unexpected"] += 1
        rows.append(
            common
            | {
                "fixture_id": extra.get("fixture_id"),
                "facing_id": None,
                "planned_product": None,
                "found_product": extra.get("product_id") or extra.get("label"),
                "status": "unexpected",
                "reason": extra.get("reason"),
            }
        )
    scan = common | {
        "source": place.source,
        "facings": len(report.get("facings", ())),
        "visible": counts["ok"] + counts["gap"] + counts["misplaced"],
        "ok": counts["ok"],
        "gap": counts["gap"],
        "misplaced": counts["misplaced"],
        "unexpected": counts["unexpected"],
    }
    return scan, rows


def products_of_report(report: Mapping[str, Any]) -> dict[str, ProductInfo]:
    products = {}
    for facing in report.get("facings", ()):
        products.setdefault(facing["product_id"], ProductInfo(facing.get("product_name") or ""))
    for extra in report.get("unexpected", ()):
        key = extra.get("product_id") or extra.get("label")
        if key:
            products.setdefault(key, ProductInfo(extra.get("label") or key))
    return products


# --- dialect helpers ---------------------------------------------------------------------------


def _insert(session: Session, table: Any) -> Any:
    return _dialect_insert(session.get_bind().dialect.name, table)


def _dialect_insert(dialect: str, table: Any) -> Any:
    """The dialect's own INSERT (with ON CONFLICT on PostgreSQL and SQLite)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    return insert(table)


def upsert_products(session: Session, products: Mapping[str, ProductInfo]) -> None:
    if not products:
        return
    session.connection().execute(
        _products_upsert(session.get_bind().dialect.name),
        [
            {
                "product_key": key,
                "name": info.name[:255],
                "brand": info.brand,
                "category": info.category,
            }
            for key, info in sorted(products.items())
        ],
    )


@lru_cache(maxsize=2)
def _products_upsert(dialect: str) -> Any:
    """Built once (every finished scan upserts its planogram's products); a product whose
    name, brand and category are already so is left alone: rewriting the same row for every
    scan costs the write path a new row version each, and the table's vacuuming."""
    table = DimProduct.__table__
    statement = _dialect_insert(dialect, table)
    excluded = statement.excluded
    brand = func.coalesce(excluded.brand, table.c.brand)
    category = func.coalesce(excluded.category, table.c.category)
    return statement.on_conflict_do_update(
        index_elements=[table.c.product_key],
        set_={"name": excluded.name, "brand": brand, "category": category},
        where=or_(
            table.c.name.is_distinct_from(excluded.name),
            table.c.brand.is_distinct_from(brand),
            table.c.category.is_distinct_from(category),
        ),
    )


def ensure_dates(session: Session, days: Iterable[date]) -> None:
    rows = [date_row(day) for day in sorted(set(days))]
    if rows:
        session.connection().execute(_dates_insert(session.get_bind().dialect.name), rows)


@lru_cache(maxsize=2)
def _dates_insert(dialect: str) -> Any:
    """Built once: the write path runs it for every finished scan (see _bay_day_statements)."""
    table = DimDate.__table__
    return _dialect_insert(dialect, table).on_conflict_do_nothing()


# --- recording one scan ------------------------------------------------------------------------


def _place_of(session: Session, scan_id: str) -> ScanPlace | None:
    row = session.connection().execute(_place_statement(), {"scan": scan_id}).first()
    if row is None:
        return None
    store_id, region, bay_id, created_at, zone, version_id, photo_key = row
    return ScanPlace(
        scan_id=scan_id,
        store_id=store_id,
        region=region,
        bay_id=bay_id,
        scanned_at=created_at,
        time_zone=zone or "UTC",
        planogram_version_id=version_id,
        photo_key=photo_key,
    )


@lru_cache(maxsize=1)
def _place_statement() -> Any:
    """Built once: every finished scan looks up its place (see _bay_day_statements)."""
    from shelfscan.auth.models import Region
    from shelfscan.db.models import Scan, ScanPhoto, Store

    photo = (
        select(ScanPhoto.storage_key)
        .where(ScanPhoto.scan_id == Scan.id)
        .order_by(ScanPhoto.index)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Scan.store_id,
            Store.region,
            Scan.bay_id,
            Scan.created_at,
            Region.time_zone,
            Scan.planogram_version_id,
            photo,
        )
        .join(Store, Store.id == Scan.store_id)
        .outerjoin(Region, Region.code == Store.region)
        .where(Scan.id == bindparam("scan"))
    )


def _catalogue(session: Session, version_id: int | None) -> dict[str, ProductInfo]:
    """Brand and category of a planogram version's products, from the product master."""
    if version_id is None:
        return {}
    rows = session.connection().execute(_catalogue_statement(), {"version": version_id})
    return {key: ProductInfo(name, brand, category) for key, name, brand, category in rows}


@lru_cache(maxsize=1)
def _catalogue_statement() -> Any:
    from shelfscan.db.models import CatalogProduct, PlanogramVersionProduct

    return (
        select(
            PlanogramVersionProduct.product_key,
            CatalogProduct.name,
            CatalogProduct.brand,
            CatalogProduct.category,
        )
        .join(CatalogProduct, CatalogProduct.id == PlanogramVersionProduct.catalog_product_id)
        .where(PlanogramVersionProduct.planogram_version_id == bindparam("version"))
    )


def record_scan(
    session: Session,
    scan_id: str,
    report: Mapping[str, Any],
    *,
    maintain: bool = True,
) -> bool:
    """Write a finished scan's facts (and, with ``maintain``, its rollups, facing states and
    problem episodes). False when it was recorded before, is inconclusive or is gone."""
    if session.get(FactScan, scan_id) is not None:
        return False
    return _record_new(session, scan_id, report, maintain=maintain)


def _record_new(
    session: Session, scan_id: str, report: Mapping[str, Any], *, maintain: bool = True
) -> bool:
    """``record_scan`` for a scan known to have no facts yet."""
    if not is_conclusive(report):
        return False
    place = _place_of(session, scan_id)
    if place is None:
        return False
    products = products_of_report(report) | _catalogue(session, place.planogram_version_id)
    write_facts(session, [(place, report)], products, maintain=maintain)
    return True


def write_facts(
    session: Session,
    scans: Sequence[tuple[ScanPlace, Mapping[str, Any]]],
    products: Mapping[str, ProductInfo],
    *,
    maintain: bool = True,
) -> None:
    """Insert the facts of ``scans``; with ``maintain``, bring the derived tables up to date
    for the bays and days they touch (one scan at a time is the fast path)."""
    if not scans:
        return
    scan_rows: list[dict[str, Any]] = []
    facing_rows: list[dict[str, Any]] = []
    for place, report in scans:
        scan_row, rows = fact_rows(place, report)
        scan_rows.append(scan_row)
        facing_rows.extend(rows)
    upsert_products(session, products)
    ensure_dates(session, (row["scan_date"] for row in scan_rows))
    connection = session.connection()
    connection.execute(insert(FactScan.__table__), scan_rows)
    if facing_rows:
        connection.execute(insert(FactFacing.__table__), facing_rows)
    if not maintain:
        return
    add_scan = _scan_rollup_statements(session.get_bind().dialect.name)
    for row in scan_rows:
        for statement in add_scan:
            connection.execute(statement, {"rollup_scan": row["scan_id"]})
    for row in scan_rows:
        bay_rows = [r for r in facing_rows if r["scan_id"] == row["scan_id"]]
        _advance_history(session, row, bay_rows)


# --- rollups -----------------------------------------------------------------------------------


def _product_contributions(where: ColumnElement[bool] | None) -> Any:
    """Per scan and product: planned facings in view, their verdicts, unexpected facings and
    facings holding the product (anywhere on the bay), and the facings credited to it."""
    f = FactFacing
    keys = (f.scan_id, f.scan_date, f.week_start, f.bay_id, f.store_id, f.region)
    zero = literal(0)
    planned = select(
        *keys,
        f.planned_product.label("product_key"),
        literal(1).label("visible"),
        case((f.status == "ok", 1), else_=0).label("ok"),
        case((f.status == "gap", 1), else_=0).label("gap"),
        case((f.status == "misplaced", 1), else_=0).label("misplaced"),
        zero.label("unexpected"),
        zero.label("seen"),
    ).where(f.status.in_(PLANNED_STATUSES))
    holding = select(
        *keys,
        f.found_product.label("product_key"),
        zero,
        zero,
        zero,
        zero,
        case((f.status == "unexpected", 1), else_=0),
        literal(1),
    ).where(f.status.in_(HOLDING_STATUSES), f.found_product.is_not(None))
    if where is not None:
        planned = planned.where(where)
        holding = holding.where(where)
    both = union_all(planned, holding).subquery("contribution")
    c = both.c
    per_scan = (
        select(
            c.scan_id,
            c.scan_date,
            c.week_start,
            c.bay_id,
            c.store_id,
            c.region,
            c.product_key,
            func.sum(c.visible).label("visible"),
            func.sum(c.ok).label("ok"),
            func.sum(c.gap).label("gap"),
            func.sum(c.misplaced).label("misplaced"),
            func.sum(c.unexpected).label("unexpected"),
            func.sum(c.seen).label("seen"),
        )
        .group_by(
            c.scan_id, c.scan_date, c.week_start, c.bay_id, c.store_id, c.region, c.product_key
        )
        .subquery("per_scan")
    )
    return per_scan


# A product's measures in one scan (``_product_contributions``), summed by every rollup.
_PRODUCT_MEASURES = ("visible", "ok", "gap", "misplaced", "unexpected", "seen")


def _credited(contributions: Any) -> Any:
    """Facings credited to a product in one scan: those holding it, at most its planned
    facings in view (a product on more facings than planned is not more available)."""
    c = contributions.c
    return case((c.seen < c.visible, c.seen), else_=c.visible)


def _rollup_selects(
    where_facing: ColumnElement[bool] | None, where_scan: ColumnElement[bool] | None
):  # type: ignore[no-untyped-def]
    s = _product_contributions(where_facing)
    product_select = (
        select(
            s.c.scan_date,
            s.c.bay_id,
            s.c.product_key,
            func.max(s.c.store_id),
            func.max(s.c.region),
            func.max(s.c.week_start),
            func.max(DimProduct.brand),
            func.max(DimProduct.category),
            *(func.sum(s.c[name]) for name in _PRODUCT_MEASURES),
            func.sum(_credited(s)),
        )
        .outerjoin(DimProduct, DimProduct.product_key == s.c.product_key)
        .group_by(s.c.scan_date, s.c.bay_id, s.c.product_key)
    )
    p = DailyProduct
    credited_of_bay = (
        select(func.coalesce(func.sum(p.credited), 0))
        .where(p.scan_date == FactScan.scan_date, p.bay_id == FactScan.bay_id)
        .scalar_subquery()
    )
    bay_select = select(
        FactScan.scan_date,
        FactScan.bay_id,
        func.max(FactScan.store_id),
        func.max(FactScan.region),
        func.max(FactScan.week_start),
        func.count(),
        func.sum(FactScan.visible),
        func.sum(FactScan.ok),
        func.sum(FactScan.gap),
        func.sum(FactScan.misplaced),
        func.sum(FactScan.unexpected),
        credited_of_bay,
    ).group_by(FactScan.scan_date, FactScan.bay_id)
    if where_scan is not None:
        bay_select = bay_select.where(where_scan)
    return product_select, bay_select


_PRODUCT_COLUMNS = (
    "scan_date", "bay_id", "product_key", "store_id", "region", "week_start", "brand",
    "category", "visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited",
)  # fmt: skip
_BAY_COLUMNS = (
    "scan_date", "bay_id", "store_id", "region", "week_start", "scans", "visible", "ok", "gap",
    "misplaced", "unexpected", "credited",
)  # fmt: skip


def refresh_rollups(
    session: Session, *, bay_id: int | None = None, day: date | None = None
) -> None:
    """Re-aggregate the daily rollups from the facts: of one bay and day, or all of them."""
    if (bay_id is None) != (day is None):
        raise ValueError("refresh_rollups takes both bay_id and day, or neither")
    if bay_id is not None:
        subtract_region, subtract_store, *refresh = _bay_day_statements(
            session.get_bind().dialect.name
        )
        where = {"rollup_bay": bay_id, "rollup_day": day}
        connection = session.connection()  # Core: no ORM work for these prebuilt statements
        # the per-region and per-store rollups follow by difference: the bay-day's old sums
        # out, the new ones in
        for statement in (subtract_region, subtract_store):
            connection.execute(statement, where | {"rollup_sign": -1})
        for statement in refresh:
            connection.execute(statement, where)
        for statement in (subtract_region, subtract_store):
            connection.execute(statement, where | {"rollup_sign": 1})
        return
    session.execute(delete(DailyProduct))
    session.execute(delete(DailyBay))
    product_select, bay_select = _rollup_selects(None, None)
    session.execute(insert(DailyProduct).from_select(list(_PRODUCT_COLUMNS), product_select))
    session.execute(insert(DailyBay).from_select(list(_BAY_COLUMNS), bay_select))
    # migration 0004's backfill runs this before migration 0008 adds the per-region rollup
    if inspect(session.connection()).has_table(RegionDailyProduct.__tablename__):
        session.execute(delete(RegionDailyProduct))
        session.execute(_region_from_bays(None, group=True))
    # and migration 0008's before migration 0009 adds the per-store rollup
    if inspect(session.connection()).has_table(DailyStore.__tablename__):
        session.execute(delete(DailyStore))
        session.execute(_store_from_bays(None, group=True))


_REGION_SUMS = ("visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited")


def _region_from_bays(sign: Any, *, group: bool, dialect: str = "") -> Any:
    """INSERT … SELECT of the per-region daily product rollup from the per-bay one: all of it
    (``group``), or one bay-day's rows times ``sign`` added to its sums (an upsert)."""
    d = DailyProduct
    region = func.coalesce(d.region, "")
    if group:
        columns = [
            d.scan_date, region, d.product_key, func.max(d.week_start), func.max(d.brand),
            func.max(d.category),
            *(func.sum(getattr(d, name)) for name in _REGION_SUMS),
        ]  # fmt: skip
        source = select(*columns).group_by(d.scan_date, region, d.product_key)
        return insert(RegionDailyProduct).from_select(_REGION_COLUMNS, source)
    columns = [
        d.scan_date, region, d.product_key, d.week_start, d.brand, d.category,
        *(getattr(d, name) * sign for name in _REGION_SUMS),
    ]  # fmt: skip
    source = select(*columns).where(
        d.bay_id == bindparam("rollup_bay"), d.scan_date == bindparam("rollup_day")
    )
    table = RegionDailyProduct.__table__
    statement = _dialect_insert(dialect, table)
    statement = statement.from_select(_REGION_COLUMNS, source)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c.scan_date, table.c.region, table.c.product_key],
        set_={
            "brand": func.coalesce(excluded.brand, table.c.brand),
            "category": func.coalesce(excluded.category, table.c.category),
            **{name: table.c[name] + excluded[name] for name in _REGION_SUMS},
        },
    )


_REGION_COLUMNS = [
    "scan_date", "region", "product_key", "week_start", "brand", "category", *_REGION_SUMS
]  # fmt: skip


_STORE_SUMS = ("scans", "visible", "ok", "gap", "misplaced", "unexpected", "credited")
_STORE_COLUMNS = ["scan_date", "store_id", "region", "week_start", *_STORE_SUMS]


def _store_from_bays(sign: Any, *, group: bool, dialect: str = "") -> Any:
    """INSERT … SELECT of the per-store daily rollup from the per-bay one: all of it
    (``group``), or one bay-day's row times ``sign`` added to its store-day (an upsert)."""
    d = DailyBay
    if group:
        source = select(
            d.scan_date, d.store_id, func.max(d.region), func.max(d.week_start),
            *(func.sum(getattr(d, name)) for name in _STORE_SUMS),
        ).group_by(d.scan_date, d.store_id)  # fmt: skip
        return insert(DailyStore).from_select(_STORE_COLUMNS, source)
    source = select(
        d.scan_date,
        d.store_id,
        d.region,
        d.week_start,
        *(getattr(d, name) * sign for name in _STORE_SUMS),
    ).where(d.bay_id == bindparam("rollup_bay"), d.scan_date == bindparam("rollup_day"))
    table = DailyStore.__table__
    statement = _dialect_insert(dialect, table)
    statement = statement.from_select(_STORE_COLUMNS, source)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c.scan_date, table.c.store_id],
        set_={
            "region": func.coalesce(excluded.region, table.c.region),
            **{name: table.c[name] + excluded[name] for name in _STORE_SUMS},
        },
    )


@lru_cache(maxsize=2)
def _bay_day_statements(dialect: str) -> tuple[Any, ...]:
    """The statements that refresh one bay-day, built once with bound parameters: the write
    path runs them for every finished scan, and building them costs more than running them.
    The first two add the bay-day's daily rows times ``rollup_sign`` to the per-region and
    per-store rollups; then the daily rows are deleted and re-aggregated."""
    bay, day = bindparam("rollup_bay"), bindparam("rollup_day")
    product_select, bay_select = _rollup_selects(
        and_(FactFacing.bay_id == bay, FactFacing.scan_date == day),
        and_(FactScan.bay_id == bay, FactScan.scan_date == day),
    )
    product_table, bay_table = DailyProduct.__table__, DailyBay.__table__
    return (
        _region_from_bays(bindparam("rollup_sign"), group=False, dialect=dialect),
        _store_from_bays(bindparam("rollup_sign"), group=False, dialect=dialect),
        delete(product_table).where(
            product_table.c.bay_id == bay, product_table.c.scan_date == day
        ),
        delete(bay_table).where(bay_table.c.bay_id == bay, bay_table.c.scan_date == day),
        insert(product_table).from_select(list(_PRODUCT_COLUMNS), product_select),
        insert(bay_table).from_select(list(_BAY_COLUMNS), bay_select),
    )


@lru_cache(maxsize=2)
def _scan_rollup_statements(dialect: str) -> tuple[Any, ...]:
    """The upserts that add one new scan (bound as ``rollup_scan``) to the daily rollups of
    its bay, product, region and store: every rollup is a sum of per-scan contributions
    (``credited`` too: each scan credits a product at most its planned facings), so a new
    scan's own facts are added to them, by its scan id's index, instead of its bay-day being
    re-aggregated. The same sums as :func:`refresh_rollups` (the tests compare the two)."""
    scan = bindparam("rollup_scan")
    s = _product_contributions(FactFacing.scan_id == scan)
    credited = _credited(s)
    per_product = (
        select(
            s.c.scan_date,
            s.c.bay_id,
            s.c.product_key,
            s.c.store_id,
            s.c.region,
            s.c.week_start,
            DimProduct.brand,
            DimProduct.category,
            *(s.c[name] for name in _PRODUCT_MEASURES),
            credited.label("credited"),
        )
        .outerjoin(DimProduct, DimProduct.product_key == s.c.product_key)
        # SQLite reads "ON CONFLICT" after a join as the join's condition without a WHERE
        .where(true())
    )
    credited_of_scan = select(func.coalesce(func.sum(credited), 0)).scalar_subquery()
    the_scan = FactScan.scan_id == scan
    scan_sums = (FactScan.visible, FactScan.ok, FactScan.gap, FactScan.misplaced,
                 FactScan.unexpected)  # fmt: skip

    def adding(table: Any, columns: Sequence[str], source: Any, keys: Sequence[str],
               sums: Sequence[str], kept: Sequence[str]) -> Any:  # fmt: skip
        statement = _dialect_insert(dialect, table).from_select(list(columns), source)
        excluded = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=[table.c[key] for key in keys],
            set_={
                **{name: func.coalesce(excluded[name], table.c[name]) for name in kept},
                **{name: table.c[name] + excluded[name] for name in sums},
            },
        )

    product_sums = (*_PRODUCT_MEASURES, "credited")
    bay_row = select(
        FactScan.scan_date, FactScan.bay_id, FactScan.store_id, FactScan.region,
        FactScan.week_start, literal(1), *scan_sums, credited_of_scan,
    ).where(the_scan)  # fmt: skip
    store_row = select(
        FactScan.scan_date, FactScan.store_id, FactScan.region, FactScan.week_start,
        literal(1), *scan_sums, credited_of_scan,
    ).where(the_scan)  # fmt: skip
    rows = per_product.subquery("scan_product")
    region_rows = select(
        rows.c.scan_date, func.coalesce(rows.c.region, ""), rows.c.product_key,
        rows.c.week_start, rows.c.brand, rows.c.category,
        *(rows.c[name] for name in _REGION_SUMS),
    ).where(true())  # fmt: skip
    return (
        adding(DailyProduct.__table__, _PRODUCT_COLUMNS, per_product,
               ("scan_date", "bay_id", "product_key"), product_sums, ("brand", "category")),
        adding(DailyBay.__table__, _BAY_COLUMNS, bay_row, ("scan_date", "bay_id"),
               ("scans", *(c.key for c in scan_sums), "credited"), ("region",)),
        adding(RegionDailyProduct.__table__, _REGION_COLUMNS, region_rows,
               ("scan_date", "region", "product_key"), _REGION_SUMS, ("brand", "category")),
        adding(DailyStore.__table__, _STORE_COLUMNS, store_row, ("scan_date", "store_id"),
               _STORE_SUMS, ("region",)),
    )  # fmt: skip


# --- facing states and problem episodes -------------------------------------------------------


def _ordering(table: Any) -> tuple[Any, Any]:
    return table.scanned_at, table.scan_id


def _advance_history(session: Session, scan: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
    """One scan's verdicts onto its bay's facing states and problem episodes."""
    bay_id = scan["bay_id"]
    newer = _newer_count_portable(session, scan)
    if newer:
        rebuild_history(session, bay_ids=[bay_id])
        return
    verdicts = {
        r["facing_id"]: r
        for r in rows
        if r["facing_id"] is not None and r["status"] in PLANNED_STATUSES
    }
    if not verdicts:
        return
    statements = _history_statements(session.get_bind().dialect.name)
    connection = session.connection()
    # The whole bay's rows (a few dozen, by the primary key's or an index's prefix), sorted
    # out here: a list of the scan's facings in the SQL would be rendered anew every time.
    states = {
        row.facing_id: row
        for row in connection.execute(statements.states, {"bay": bay_id})
        if row.facing_id in verdicts
    }
    open_episodes = {
        row.facing_id: row
        for row in connection.execute(statements.open_episodes, {"bay": bay_id})
        if row.facing_id in verdicts
    }
    mask = (1 << HISTORY_LENGTH) - 1
    new_states, opened, closed, continued = [], [], [], []
    histogram: dict[fix_histogram.Key, fix_histogram.Bucket] = {}
    for facing_id, row in verdicts.items():
        failing = row["status"] in PROBLEM_STATUSES
        previous = states.get(facing_id)
        bits = (((previous.bits if previous else 0) << 1) | int(failing)) & mask
        known = min(HISTORY_LENGTH, (previous.known if previous else 0) + 1)
        new_states.append(
            {
                "bay_id": bay_id,
                "facing_id": facing_id,
                "store_id": scan["store_id"],
                "region": scan["region"],
                "product_key": row["planned_product"],
                "bits": bits,
                "known": known,
                "fails": bin(bits).count("1"),
                "last_scan_id": scan["scan_id"],
                "last_scanned_at": scan["scanned_at"],
            }
        )
        episode = open_episodes.get(facing_id)
        episode_id = episode.id if episode is not None else None
        if failing and episode_id is None:
            fix_histogram.add_opened(histogram, scan["region"], _utc_day(scan["scanned_at"]))
            opened.append(
                {
                    "store_id": scan["store_id"],
                    "region": scan["region"],
                    "bay_id": bay_id,
                    "facing_id": facing_id,
                    "product_key": row["planned_product"],
                    "opened_scan_id": scan["scan_id"],
                    "opened_at": scan["scanned_at"],
                    "closed_scan_id": None,
                    "closed_at": None,
                    "failing_scans": 1,
                }
            )
        elif failing:
            continued.append({"episode_id": episode_id})
        elif episode is not None:
            closed.append(
                {"episode_id": episode_id, "scan": scan["scan_id"], "at": scan["scanned_at"]}
            )
            fix_histogram.add_fixed(
                histogram,
                episode.region,
                _utc_day(scan["scanned_at"]),
                _hours_between(episode.opened_at, scan["scanned_at"]),
            )
    connection.execute(statements.forget_states, {"bay": bay_id, "facings": list(verdicts)})
    connection.execute(statements.insert_states, new_states)
    if opened:
        connection.execute(statements.open, opened)
    if continued:
        connection.execute(statements.continue_, continued)
    if closed:
        connection.execute(statements.close, closed)
    _add_to_fix_histogram(session, histogram)


@dataclass(frozen=True)
class _HistoryStatements:
    states: Any
    open_episodes: Any
    forget_states: Any
    insert_states: Any
    open: Any
    continue_: Any  # executemany, keyed by a bound episode id
    close: Any


@lru_cache(maxsize=2)
def _history_statements(dialect: str) -> _HistoryStatements:
    """Built once: the write path runs them for every finished scan (see _bay_day_statements)."""
    states, episodes = FacingState.__table__, ProblemEpisode.__table__
    bay = bindparam("bay")
    by_id = episodes.c.id == bindparam("episode_id")
    return _HistoryStatements(
        states=select(states.c.facing_id, states.c.bits, states.c.known).where(
            states.c.bay_id == bay
        ),
        open_episodes=select(
            episodes.c.facing_id, episodes.c.id, episodes.c.region, episodes.c.opened_at
        ).where(episodes.c.bay_id == bay, episodes.c.closed_at.is_(None)),
        forget_states=delete(states).where(
            states.c.bay_id == bay, states.c.facing_id.in_(bindparam("facings", expanding=True))
        ),
        insert_states=insert(states),
        open=insert(episodes),
        continue_=update(episodes).where(by_id).values(failing_scans=episodes.c.failing_scans + 1),
        close=update(episodes)
        .where(by_id)
        .values(closed_scan_id=bindparam("scan"), closed_at=bindparam("at")),
    )


# --- the daily fix histogram (time to fix at chain and region level) -----------------------


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _utc_day(at: datetime) -> date:
    # time to fix selects problems by the UTC day of the fixing scan
    return _utc(at).date()


def _hours_between(start: datetime, end: datetime) -> float:
    return (_utc(end) - _utc(start)).total_seconds() / 3600.0


def _episode_contributions(rows: Iterable[Any], sign: int) -> dict[Any, fix_histogram.Bucket]:
    return fix_histogram.contributions(
        (
            (
                region,
                _utc_day(opened_at),
                _utc_day(closed_at) if closed_at is not None else None,
                _hours_between(opened_at, closed_at) if closed_at is not None else None,
            )
            for region, opened_at, closed_at in rows
        ),
        sign,
    )


def _add_to_fix_histogram(session: Session, changes: Mapping[Any, fix_histogram.Bucket]) -> None:
    """Histogram rows added to (an upsert per day, region and bucket)."""
    rows = [
        {
            "day": day,
            "region": region,
            "bucket": bucket,
            "problems": change.problems,
            "hours_sum": change.hours_sum,
            "hours_sq": change.hours_sq,
        }
        for (day, region, bucket), change in sorted(changes.items(), key=lambda kv: kv[0])
        if change.problems or change.hours_sum or change.hours_sq
    ]
    if not rows:
        return
    session.connection().execute(_fix_histogram_upsert(session.get_bind().dialect.name), rows)


_FIX_SUMS = ("problems", "hours_sum", "hours_sq")


@lru_cache(maxsize=2)
def _fix_histogram_upsert(dialect: str) -> Any:
    """Built once: the write path runs it for most finished scans (see _bay_day_statements)."""
    table = DailyFix.__table__
    statement = _dialect_insert(dialect, table)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c.day, table.c.region, table.c.bucket],
        set_={name: table.c[name] + excluded[name] for name in _FIX_SUMS},
    )


def _has_fix_histogram(session: Session) -> bool:
    # migration 0004's backfill rebuilds history before migration 0010 adds the histogram
    return inspect(session.connection()).has_table(DailyFix.__tablename__)


def _bay_episodes(session: Session, bay_ids: Sequence[int]) -> list[Any]:
    e = ProblemEpisode
    return session.execute(
        select(e.region, e.opened_at, e.closed_at).where(e.bay_id.in_(list(bay_ids)))
    ).all()


def rebuild_fix_histogram(session: Session, *, batch: int = 50_000) -> None:
    """The daily fix histogram recomputed from every problem episode (streamed)."""
    session.execute(delete(DailyFix))
    e = ProblemEpisode
    totals: dict[Any, fix_histogram.Bucket] = {}
    result = session.execute(
        select(e.region, e.opened_at, e.closed_at).execution_options(yield_per=batch)
    )
    for part in result.partitions():
        for key, change in _episode_contributions(part, 1).items():
            entry = totals.setdefault(key, fix_histogram.Bucket())
            entry.problems += change.problems
            entry.hours_sum += change.hours_sum
            entry.hours_sq += change.hours_sq
    rows = [
        {"day": day, "region": region, "bucket": bucket, "problems": v.problems,
         "hours_sum": v.hours_sum, "hours_sq": v.hours_sq}
        for (day, region, bucket), v in totals.items()
    ]  # fmt: skip
    for start in range(0, len(rows), 10_000):
        session.execute(insert(DailyFix.__table__), rows[start : start + 10_000])


def _newer_count_portable(session: Session, scan: Mapping[str, Any]) -> int:
    return (
        session.connection().scalar(
            _newer_scans_count(),
            {"bay": scan["bay_id"], "at": scan["scanned_at"], "scan": scan["scan_id"]},
        )
        or 0
    )


@lru_cache(maxsize=1)
def _newer_scans_count() -> Any:
    """Built once: the write path runs it for every finished scan (see _bay_day_statements)."""
    scans = FactScan.__table__
    at = bindparam("at", type_=scans.c.scanned_at.type)
    return (
        select(func.count())
        .select_from(scans)
        .where(
            scans.c.bay_id == bindparam("bay"),
            or_(
                scans.c.scanned_at > at,
                and_(scans.c.scanned_at == at, scans.c.scan_id > bindparam("scan")),
            ),
        )
    )


def _verdicts(bay_ids: Sequence[int] | None) -> Any:
    f = FactFacing
    statement = select(
        f.bay_id,
        f.facing_id,
        f.store_id,
        f.region,
        f.planned_product,
        f.scan_id,
        f.scanned_at,
        case((f.status.in_(PROBLEM_STATUSES), 1), else_=0).label("failing"),
    ).where(f.facing_id.is_not(None), f.status.in_(PLANNED_STATUSES))
    if bay_ids is not None:
        statement = statement.where(f.bay_id.in_(list(bay_ids)))
    return statement.subquery("verdict")


def rebuild_history(session: Session, *, bay_ids: Sequence[int] | None = None) -> None:
    """Facing states and problem episodes recomputed from the facts in set-based SQL (window
    functions), for some bays or all; the daily fix histogram follows (for some bays by
    difference: their old episodes taken away, the new ones added)."""
    histogram = _has_fix_histogram(session)
    if bay_ids is not None:
        if histogram:
            _add_to_fix_histogram(
                session, _episode_contributions(_bay_episodes(session, bay_ids), -1)
            )
        session.execute(delete(FacingState).where(FacingState.bay_id.in_(list(bay_ids))))
        session.execute(delete(ProblemEpisode).where(ProblemEpisode.bay_id.in_(list(bay_ids))))
    else:
        session.execute(delete(FacingState))
        session.execute(delete(ProblemEpisode))

    v = _verdicts(bay_ids)
    partition = (v.c.bay_id, v.c.facing_id)
    newest_first = func.row_number().over(
        partition_by=partition, order_by=(v.c.scanned_at.desc(), v.c.scan_id.desc())
    )
    ranked = select(v, newest_first.label("rn")).subquery("ranked")
    r = ranked.c
    latest = r.rn == 1
    state = (
        select(
            r.bay_id,
            r.facing_id,
            func.max(r.store_id),
            func.max(case((latest, r.region))),
            func.max(case((latest, r.planned_product))),
            # row_number() is a bigint on PostgreSQL, which has no integer << bigint
            func.sum(r.failing.op("<<")(cast(r.rn, Integer) - 1)),
            func.count(),
            func.sum(r.failing),
            func.max(case((latest, r.scan_id))),
            func.max(case((latest, r.scanned_at))),
        )
        .where(r.rn <= HISTORY_LENGTH)
        .group_by(r.bay_id, r.facing_id)
    )
    session.execute(
        insert(FacingState).from_select(
            [
                "bay_id",
                "facing_id",
                "store_id",
                "region",
                "product_key",
                "bits",
                "known",
                "fails",
                "last_scan_id",
                "last_scanned_at",
            ],
            state,
        )
    )

    oldest_first = (v.c.scanned_at, v.c.scan_id)
    previous = func.lag(v.c.failing).over(partition_by=partition, order_by=oldest_first)
    marked = select(v, previous.label("previous")).subquery("marked")
    m = marked.c
    start = case((and_(m.failing == 1, or_(m.previous.is_(None), m.previous == 0)), 1), else_=0)
    closer = case((and_(m.failing == 0, m.previous == 1), 1), else_=0)
    grouped = select(
        m,
        start.label("start"),
        closer.label("closer"),
        func.sum(start)
        .over(
            partition_by=(m.bay_id, m.facing_id),
            order_by=(m.scanned_at, m.scan_id),
            rows=(None, 0),
        )
        .label("episode"),
    ).subquery("grouped")
    g = grouped.c
    episodes = (
        select(
            func.max(g.store_id),
            func.max(case((g.start == 1, g.region))),
            g.bay_id,
            g.facing_id,
            func.max(case((g.start == 1, g.planned_product))),
            func.max(case((g.start == 1, g.scan_id))),
            func.min(case((g.start == 1, g.scanned_at))),
            func.max(case((g.closer == 1, g.scan_id))),
            func.min(case((g.closer == 1, g.scanned_at))),
            func.sum(g.failing),
        )
        .where(g.episode > 0)
        .group_by(g.bay_id, g.facing_id, g.episode)
    )
    session.execute(
        insert(ProblemEpisode).from_select(
            [
                "store_id",
                "region",
                "bay_id",
                "facing_id",
                "product_key",
                "opened_scan_id",
                "opened_at",
                "closed_scan_id",
                "closed_at",
                "failing_scans",
            ],
            episodes,
        )
    )
    if not histogram:
        return
    if bay_ids is not None:
        _add_to_fix_histogram(session, _episode_contributions(_bay_episodes(session, bay_ids), 1))
    else:
        rebuild_fix_histogram(session)


# --- rebuild -----------------------------------------------------------------------------------


def clear_scan_facts(session: Session) -> None:
    """Remove the facts of real scans (synthetic ones stay)."""
    real = select(FactScan.scan_id).where(FactScan.source == "scan")
    session.execute(delete(FactFacing).where(FactFacing.scan_id.in_(real)))
    session.execute(delete(FactScan).where(FactScan.source == "scan"))


def rebuild(session: Session, *, batch: int = 200) -> int:
    """Every table recomputed: the facts of every finished scan (from its report), then the
    rollups, states and episodes. Returns the number of scans recorded."""
    from shelfscan.db.models import Scan
    from shelfscan.services.status import ScanStatus

    clear_scan_facts(session)
    recorded = 0
    last: tuple[datetime, str] | None = None
    while True:
        statement = (
            select(Scan.id, Scan.report, Scan.created_at)
            .where(Scan.status == ScanStatus.DONE, Scan.report.is_not(None))
            .order_by(Scan.created_at, Scan.id)
            .limit(batch)
        )
        if last is not None:
            statement = statement.where(
                or_(Scan.created_at > last[0], and_(Scan.created_at == last[0], Scan.id > last[1]))
            )
        rows = session.execute(statement).all()
        if not rows:
            break
        for scan_id, report, created_at in rows:
            if record_scan(session, scan_id, report, maintain=False):
                recorded += 1
            last = (created_at, scan_id)
    refresh_rollups(session)
    rebuild_history(session)
    return recorded


def rewrite_scan_facts(session: Session, scan_id: str, report: Mapping[str, Any]) -> bool:
    """Replace a recorded scan's facts with those of a newer report of the same scan (a
    correction, or a further photo re-analysed), and re-derive its bay's rollups and history.
    False when the scan was never recorded (then there is nothing to replace)."""
    old = session.get(FactScan, scan_id)
    if old is None:
        return False
    _replace_facts(session, old, report)
    return True


def _replace_facts(session: Session, old: FactScan, report: Mapping[str, Any]) -> None:
    scan_id, bay_id, day = old.scan_id, old.bay_id, old.scan_date
    session.expunge(old)  # else record_scan finds the deleted row in the identity map
    session.execute(delete(FactFacing).where(FactFacing.scan_id == scan_id))
    session.execute(delete(FactScan).where(FactScan.scan_id == scan_id))
    session.flush()
    _record_new(session, scan_id, report, maintain=False)  # nothing when now inconclusive
    refresh_rollups(session, bay_id=bay_id, day=day)
    rebuild_history(session, bay_ids=[bay_id])


def record_finished_scan(session: Session, scan_id: str, report: Mapping[str, Any]) -> None:
    """The hook of :func:`shelfscan.services.scans.finish`: record the facts in a savepoint, so
    that a failure here never loses the scan's result (``shelfscan analytics rebuild`` catches
    up). A scan finished again (re-analysed with a further photo) has its facts replaced."""
    try:
        with session.begin_nested():
            old = session.get(FactScan, scan_id)
            if old is None:
                _record_new(session, scan_id, report)
            else:
                _replace_facts(session, old, report)
    except Exception:
        log.exception("analytics facts not recorded", extra={"scan_id": scan_id})


__all__ = [
    "ProductInfo",
    "ScanPlace",
    "fact_rows",
    "rebuild",
    "rebuild_history",
    "record_finished_scan",
    "record_scan",
    "refresh_rollups",
    "rewrite_scan_facts",
    "write_facts",
]
