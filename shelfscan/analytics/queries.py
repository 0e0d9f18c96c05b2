"""Aggregations in the database (SQLAlchemy Core): every dashboard number comes from here.

The KPIs are ratios of sums (:mod:`shelfscan.analytics.kpis`), so each query sums numerators
and denominators over the daily rollups at the level and period asked, and Python divides.
Queries without a product, brand or category in them read the per-store rollup (the per-bay
one for bay figures); the others the per-region or per-bay product ones. ``Filters.store_ids``
is the caller's scope (:mod:`shelfscan.analytics.scope`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from shelfscan.analytics import fix_histogram
from shelfscan.analytics.kpis import (
    DEFAULT_EXPECTED_PER_BAY_WEEK,
    expected_scans,
    ratios,
)
from shelfscan.analytics.models import (
    DailyBay,
    DailyFix,
    DailyProduct,
    DailyStore,
    DimProduct,
    FacingState,
    FactFacing,
    FactScan,
    ProblemEpisode,
    RegionDailyProduct,
)
from shelfscan.db.models import Bay, Store


class Level(StrEnum):
    CHAIN = "chain"
    REGION = "region"
    STORE = "store"
    BAY = "bay"
    PRODUCT = "product"
    BRAND = "brand"
    CATEGORY = "category"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    ALL = "all"  # the whole range as one row per group


PRODUCT_LEVELS = frozenset({Level.PRODUCT, Level.BRAND, Level.CATEGORY})


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    region: str | None = None
    store: str | None = None  # store code
    bay: str | None = None  # bay code (with store)
    category: str | None = None
    brand: str | None = None
    product: str | None = None
    store_ids: Any = None  # the caller's scope: a select of store ids; None = the whole chain

    @property
    def by_product(self) -> bool:
        return bool(self.category or self.brand or self.product)


@dataclass
class StoreNames:
    codes: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)
    bays: dict[int, str] = field(default_factory=dict)


def _store_id_of(code: str) -> Any:
    return select(Store.id).where(Store.code == code).scalar_subquery()


def _where(table: Any, filters: Filters, *, date_column: Any = None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.date_from is not None or filters.date_to is not None:
        column = date_column if date_column is not None else table.scan_date
        if filters.date_from is not None:
            conditions.append(column >= filters.date_from)
        if filters.date_to is not None:
            conditions.append(column <= filters.date_to)
    if filters.region:
        conditions.append(table.region == filters.region)
    if filters.store:
        conditions.append(table.store_id == _store_id_of(filters.store))
    if filters.bay:
        if not filters.store:
            raise ValueError("bay needs store: bay codes are unique within a store")
        bay_id = (
            select(Bay.id)
            .where(Bay.store_id == _store_id_of(filters.store), Bay.code == filters.bay)
            .scalar_subquery()
        )
        conditions.append(table.bay_id == bay_id)
    if filters.store_ids is not None:
        conditions.append(table.store_id.in_(filters.store_ids))
    return conditions


def _product_conditions(table: Any, filters: Filters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.category:
        conditions.append(table.category == filters.category)
    if filters.brand:
        conditions.append(table.brand == filters.brand)
    if filters.product:
        conditions.append(table.product_key == filters.product)
    return conditions


def _level_keys(table: Any, level: Level) -> list[Any]:
    names = {
        Level.CHAIN: (),
        Level.REGION: ("region",),
        Level.STORE: ("store_id",),
        Level.BAY: ("store_id", "bay_id"),
        Level.PRODUCT: ("product_key",),
        Level.BRAND: ("brand",),
        Level.CATEGORY: ("category",),
    }[level]
    return [getattr(table, name) for name in names]


REGION_LEVELS = frozenset({Level.CHAIN, Level.REGION, *PRODUCT_LEVELS})
_PRODUCT_SUMS = ("visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited")


def _product_source(level: Level, filters: Filters) -> Any:
    """Where product figures come from: the per-region daily rollup (thousands of rows) when
    no store, bay or scope filter needs the per-bay one (millions)."""
    if level not in REGION_LEVELS or filters.store or filters.bay or filters.store_ids is not None:
        return DailyProduct
    r = RegionDailyProduct
    return (
        select(
            r.scan_date,
            r.week_start,
            func.nullif(r.region, "").label("region"),
            r.product_key,
            r.brand,
            r.category,
            *(getattr(r, name) for name in _PRODUCT_SUMS),
        )
        .where(
            # a bay-day re-aggregated to nothing leaves zeros behind; the per-bay rollup has no
            # such rows (each holds a planned or a found facing)
            r.visible + r.seen > 0,
            *_where(r, Filters(**{**filters.__dict__, "region": None})),
            *([func.nullif(r.region, "") == filters.region] if filters.region else []),
            *_product_conditions(r, filters),
        )
        .subquery("by_region")
    )


STORE_LEVELS = frozenset({Level.CHAIN, Level.REGION, Level.STORE})


def _scan_source(level: Level, filters: Filters) -> Any:
    """Where figures without products come from: the per-store daily rollup (tens of thousands
    of rows) unless a bay level or filter needs the per-bay one."""
    if level not in STORE_LEVELS or filters.bay:
        return DailyBay
    s = DailyStore
    # a store-day whose bay-days were re-aggregated to nothing leaves zeros behind
    return (
        select(s.scan_date, s.week_start, s.region, s.store_id, *(getattr(s, n) for n in _SUMS))
        .where(s.scans > 0, *_where(s, filters))
        .subquery("by_store")
    )


_SUMS = ("scans", "visible", "ok", "gap", "misplaced", "unexpected", "credited")


def sums_select(level: Level, period: Period, filters: Filters) -> Select[Any]:
    """The one aggregation: sums per period and level key."""
    use_products = level in PRODUCT_LEVELS or filters.by_product
    source = _product_source(level, filters) if use_products else _scan_source(level, filters)
    table = source if source is DailyProduct or source is DailyBay else source.c
    prefiltered = table is not source
    keys = _level_keys(table, level)
    period_key = {
        Period.DAY: table.scan_date,
        Period.WEEK: table.week_start,
        Period.ALL: literal(None),
    }[period]
    columns = [
        period_key.label("period"),
        *keys,
        func.sum(table.visible).label("visible"),
        func.sum(table.ok).label("ok"),
        func.sum(table.gap).label("gap"),
        func.sum(table.misplaced).label("misplaced"),
        func.sum(table.unexpected).label("unexpected"),
        func.sum(table.credited).label("credited"),
    ]
    if use_products:
        columns.append(func.sum(table.seen).label("seen"))
    else:
        columns.append(func.sum(table.scans).label("scans"))
    statement = select(*columns)
    if not prefiltered:
        statement = statement.where(*_where(table, filters))
        if use_products:
            statement = statement.where(*_product_conditions(table, filters))
    group = ([period_key] if period is not Period.ALL else []) + keys
    if group:
        statement = statement.group_by(*group)
    return statement


def _literal_ids(ids: set[int]) -> Any:
    """Integer ids rendered into the SQL text: a thousand bound parameters cost the driver
    (psycopg splits the query per parameter) more than the query itself."""
    return bindparam("ids", sorted(int(i) for i in ids), expanding=True, literal_execute=True)


def _names(session: Session, store_ids: set[int], bay_ids: set[int]) -> StoreNames:
    names = StoreNames()
    if store_ids:
        for store_id, code, name, region in session.execute(
            select(Store.id, Store.code, Store.name, Store.region).where(
                Store.id.in_(_literal_ids(store_ids))
            )
        ):
            names.codes[store_id] = (code, name, region)
    if bay_ids:
        for bay_id, code in session.execute(
            select(Bay.id, Bay.code).where(Bay.id.in_(_literal_ids(bay_ids)))
        ):
            names.bays[bay_id] = code
    return names


def _products(session: Session, keys: set[str]) -> dict[str, tuple[str, str | None, str | None]]:
    if not keys:
        return {}
    return {
        key: (name, brand, category)
        for key, name, brand, category in session.execute(
            select(
                DimProduct.product_key, DimProduct.name, DimProduct.brand, DimProduct.category
            ).where(DimProduct.product_key.in_(sorted(keys)))
        )
    }


def _period_bounds(period: Period, key: date | None, filters: Filters) -> tuple[date, date] | None:
    if period is Period.DAY and key is not None:
        start, end = key, key
    elif period is Period.WEEK and key is not None:
        start, end = key, key + timedelta(days=6)
    elif filters.date_from is not None and filters.date_to is not None:
        start, end = filters.date_from, filters.date_to
    else:
        return None
    if filters.date_from is not None:
        start = max(start, filters.date_from)
    if filters.date_to is not None:
        end = min(end, filters.date_to)
    return start, end


def bay_counts(session: Session, level: Level, filters: Filters) -> dict[Any, int]:
    """Bays in scope per level key (what scans are expected from)."""
    key = {
        Level.CHAIN: literal("chain"),
        Level.REGION: Store.region,
        Level.STORE: Store.id,
        Level.BAY: Bay.id,
    }[level]
    statement = select(key, func.count(Bay.id)).join(Store, Store.id == Bay.store_id)
    if filters.region:
        statement = statement.where(Store.region == filters.region)
    if filters.store:
        statement = statement.where(Store.code == filters.store)
    if filters.bay:
        statement = statement.where(Bay.code == filters.bay)
    if filters.store_ids is not None:
        statement = statement.where(Store.id.in_(filters.store_ids))
    return dict(session.execute(statement.group_by(key)).all())  # type: ignore[arg-type]


def _expected_from(session: Session, level: Level, filters: Filters) -> dict[Any, int]:
    """``bay_counts`` where scans done versus expected applies (not per product)."""
    if level in PRODUCT_LEVELS or filters.by_product:
        return {}
    return bay_counts(session, level, filters)


def kpi_rows(
    session: Session,
    level: Level,
    period: Period,
    filters: Filters,
    *,
    expected_per_bay_week: float = DEFAULT_EXPECTED_PER_BAY_WEEK,
    counts: Mapping[Any, int] | None = None,
) -> list[dict[str, Any]]:
    """Tidy rows: one per period and level key, with sums, the scores and what they link to.
    ``counts``: the bays in scope per level key (``bay_counts``), when the caller has them."""
    raw = [dict(row._mapping) for row in session.execute(sums_select(level, period, filters))]
    store_ids = {row["store_id"] for row in raw if row.get("store_id") is not None}
    bay_ids = {row["bay_id"] for row in raw if row.get("bay_id") is not None}
    names = _names(session, store_ids, bay_ids)
    products = _products(session, {row["product_key"] for row in raw if row.get("product_key")})
    if counts is None:
        counts = _expected_from(session, level, filters)
    seen_total: dict[Any, float] = defaultdict(float)
    visible_total: dict[Any, float] = defaultdict(float)
    for row in raw:
        seen_total[row["period"]] += row.get("seen") or 0
        visible_total[row["period"]] += row.get("visible") or 0
    rows = []
    for row in raw:
        out: dict[str, Any] = {"level": level.value, "period": row["period"]}
        bounds = _period_bounds(period, row["period"], filters)
        out["period_start"], out["period_end"] = bounds if bounds else (None, None)
        if level is Level.REGION:
            out["region"] = row["region"]
        if level in (Level.STORE, Level.BAY):
            code, name, region = names.codes.get(row["store_id"], (None, None, None))
            out |= {"store": code, "store_name": name, "region": region}
        if level is Level.BAY:
            out["bay"] = names.bays.get(row["bay_id"])
        if level is Level.PRODUCT:
            name, brand, category = products.get(
                row["product_key"], (row["product_key"], None, None)
            )
            out |= {"product": row["product_key"], "product_name": name, "brand": brand,
                    "category": category}  # fmt: skip
        if level is Level.BRAND:
            out["brand"] = row["brand"]
        if level is Level.CATEGORY:
            out["category"] = row["category"]
        for name_ in ("visible", "ok", "gap", "misplaced", "unexpected", "credited"):
            out[name_] = int(row[name_] or 0)
        out |= ratios(out)
        if "scans" in row:
            out["scans"] = int(row["scans"] or 0)
            key = {
                Level.CHAIN: "chain",
                Level.REGION: row.get("region"),
                Level.STORE: row.get("store_id"),
                Level.BAY: row.get("bay_id"),
            }.get(level)
            days = (bounds[1] - bounds[0]).days + 1 if bounds else None
            expected = (
                expected_scans(counts.get(key, 0), days, expected_per_bay_week)
                if days is not None
                else None
            )
            out["scans_expected"] = expected
            out["scans_done_rate"] = out["scans"] / expected if expected else None
        if "seen" in row:
            out["seen"] = int(row["seen"] or 0)
            total_seen = seen_total[row["period"]]
            total_visible = visible_total[row["period"]]
            out["share_of_shelf"] = out["seen"] / total_seen if total_seen else None
            out["planned_share"] = out["visible"] / total_visible if total_visible else None
        out["scan_filter"] = _scan_filter(out, filters, bounds)
        rows.append(out)
    rows.sort(key=lambda r: (str(r["period"]), *(str(r.get(k)) for k in _sort_keys(level))))
    return rows


def _sort_keys(level: Level) -> tuple[str, ...]:
    return {
        Level.CHAIN: (),
        Level.REGION: ("region",),
        Level.STORE: ("store",),
        Level.BAY: ("store", "bay"),
        Level.PRODUCT: ("product",),
        Level.BRAND: ("brand",),
        Level.CATEGORY: ("category",),
    }[level]


def _scan_filter(
    row: dict[str, Any], filters: Filters, bounds: tuple[date, date] | None
) -> dict[str, str]:
    """The query of the scans behind a row (``/api/v1/analytics/scans``)."""
    query: dict[str, str] = {}
    start, end = bounds if bounds else (filters.date_from, filters.date_to)
    if start:
        query["from"] = start.isoformat()
    if end:
        query["to"] = end.isoformat()
    region = row.get("region") or filters.region
    if region:
        query["region"] = region
    store = row.get("store") or filters.store
    if store:
        query["store"] = store
    bay = row.get("bay") or filters.bay
    if bay:
        query["bay"] = bay
    product = row.get("product") or filters.product
    if product:
        query["product"] = product
    return query


# --- league ------------------------------------------------------------------------------------


def league(session: Session, filters: Filters) -> list[dict[str, Any]]:
    """Stores ranked by planogram compliance over ``[from, to]``, with the change against the
    period of the same length just before."""
    if filters.date_from is None or filters.date_to is None:
        raise ValueError("league needs from and to")
    # the bays per store do not depend on the dates: counted once for both periods
    counts = _expected_from(session, Level.STORE, filters)
    current = kpi_rows(session, Level.STORE, Period.ALL, filters, counts=counts)
    length = (filters.date_to - filters.date_from).days + 1
    before = Filters(
        **{
            **filters.__dict__,
            "date_from": filters.date_from - timedelta(days=length),
            "date_to": filters.date_from - timedelta(days=1),
        }
    )
    previous = {
        row["store"]: row
        for row in kpi_rows(session, Level.STORE, Period.ALL, before, counts=counts)
    }

    def score(row: dict[str, Any]) -> float:
        value = row.get("planogram_compliance")
        return -1.0 if value is None else value

    ranked = sorted(current, key=lambda r: (-score(r), r["store"] or ""))
    previous_ranked = sorted(previous.values(), key=lambda r: (-score(r), r["store"] or ""))
    previous_rank = {row["store"]: index + 1 for index, row in enumerate(previous_ranked)}
    for index, row in enumerate(ranked):
        row["rank"] = index + 1
        before_row = previous.get(row["store"])
        row["previous_rank"] = previous_rank.get(row["store"])
        for kpi in ("planogram_compliance", "on_shelf_availability", "out_of_stock_rate"):
            then = before_row.get(kpi) if before_row else None
            now = row.get(kpi)
            row[f"{kpi}_previous"] = then
            row[f"{kpi}_change"] = now - then if now is not None and then is not None else None
    return ranked


# --- repeat offenders --------------------------------------------------------------------------


def _fails_in_last(m: int) -> Any:
    """Failing verdicts among the last ``m`` (bit k = k scans ago), portable SQL."""
    bits = FacingState.bits
    terms = [bits.op(">>")(k).op("&")(1) for k in range(m)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def offenders(
    session: Session, filters: Filters, *, n: int, m: int, by: str = "facing", limit: int = 50
) -> list[dict[str, Any]]:
    """Facings (or products) failing in at least ``n`` of their last ``m`` scans, worst first."""
    if not 1 <= n <= m <= 16:
        raise ValueError("offenders need 1 <= n <= m <= 16")
    s = FacingState
    failing = _fails_in_last(m).label("failing")
    statement = (
        select(
            s.store_id,
            s.region,
            s.bay_id,
            s.facing_id,
            s.product_key,
            s.bits,
            s.known,
            s.last_scan_id,
            s.last_scanned_at,
            failing,
            DimProduct.name,
            DimProduct.brand,
            DimProduct.category,
        )
        .outerjoin(DimProduct, DimProduct.product_key == s.product_key)
        .where(s.fails >= n, s.known >= m, failing >= n)
    )
    conditions = _where(s, Filters(**{**filters.__dict__, "date_from": None, "date_to": None}))
    statement = statement.where(*conditions)
    if filters.category:
        statement = statement.where(DimProduct.category == filters.category)
    if filters.brand:
        statement = statement.where(DimProduct.brand == filters.brand)
    if filters.product:
        statement = statement.where(s.product_key == filters.product)
    if by == "product":
        return _offending_products(session, statement, m, limit)
    # worst first, in the database: a chain has millions of facings. One failing count at a
    # time, from m down: a facing failing in k of its last m scans has fails >= k, so the
    # index on fails leaves few candidates for the top levels, and the page asks for the top
    # few dozen only
    statement = statement.join(Store, Store.id == s.store_id).join(Bay, Bay.id == s.bay_id)
    rows: list[dict[str, Any]] = []
    for level in range(m, n - 1, -1):
        if len(rows) >= limit:
            break
        part = (
            statement.where(s.fails >= level, failing == level)
            .order_by(Store.code, Bay.code, s.facing_id)
            .limit(limit - len(rows))
        )
        rows.extend(dict(row._mapping) for row in session.execute(part))
    names = _names(session, {r["store_id"] for r in rows}, {r["bay_id"] for r in rows})
    out = []
    for row in rows:
        code, store_name, _ = names.codes.get(row["store_id"], (None, None, None))
        history = "".join("x" if row["bits"] >> k & 1 else "." for k in range(m))
        out.append(
            {
                "store": code,
                "store_name": store_name,
                "region": row["region"],
                "bay": names.bays.get(row["bay_id"]),
                "facing_id": row["facing_id"],
                "product": row["product_key"],
                "product_name": row["name"] or row["product_key"],
                "brand": row["brand"],
                "category": row["category"],
                "failing": int(row["failing"]),
                "of_last": m,
                "history": history,  # newest first: x failing, . fine
                "last_scan_id": row["last_scan_id"],
                "last_scanned_at": row["last_scanned_at"],
            }
        )
    out.sort(key=lambda r: (-r["failing"], r["store"] or "", r["bay"] or "", r["facing_id"]))
    return out[:limit]


def _offending_products(
    session: Session, offending: Select[Any], m: int, limit: int
) -> list[dict[str, Any]]:
    """Products with most offending facings (then most failing verdicts), grouped and ranked in
    the database in one pass: a chain has tens of thousands of offending facings, and fetching
    them (with their bays' names) cost seconds. Each product links to its most recent
    offending scan."""
    facings = offending.subquery("offending")
    o = facings.c
    newest = (
        func.row_number()
        .over(
            partition_by=o.product_key,
            order_by=(o.last_scanned_at.desc(), o.store_id, o.bay_id, o.facing_id),
        )
        .label("newest")
    )
    ranked = select(o.product_key, o.store_id, o.last_scan_id, o.failing, newest).subquery("r")
    r = ranked.c
    latest = r.newest == 1
    statement = (
        select(
            r.product_key,
            func.count().label("facings"),
            func.count(r.store_id.distinct()).label("stores"),
            func.sum(r.failing).label("failing"),
            func.max(case((latest, r.store_id))).label("store_id"),
            func.max(case((latest, r.last_scan_id))).label("last_scan_id"),
        )
        .group_by(r.product_key)
        .order_by(func.count().desc(), func.sum(r.failing).desc(), r.product_key)
        .limit(limit)
    )
    rows = [dict(row._mapping) for row in session.execute(statement)]
    names = _names(session, {r["store_id"] for r in rows if r["store_id"] is not None}, set())
    products = _products(session, {r["product_key"] for r in rows if r["product_key"]})
    out = []
    for row in rows:
        key = row["product_key"]
        name, brand, category = products.get(key, (key, None, None))
        out.append(
            {
                "product": key,
                "product_name": name or key,
                "brand": brand,
                "category": category,
                "facings": int(row["facings"]),
                "stores": int(row["stores"]),
                "failing": int(row["failing"]),
                "of_last": m,
                "last_scan_id": row["last_scan_id"],
                "store": names.codes.get(row["store_id"], (None,))[0],
            }
        )
    return out


# --- time to fix -------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _hours_to_fix(dialect: str) -> Any:
    e = ProblemEpisode
    if dialect == "postgresql":
        return func.extract("epoch", e.closed_at - e.opened_at) / 3600.0
    # SQLite keeps instants as UTC text; julianday() reads them as days
    return (func.julianday(e.closed_at) - func.julianday(e.opened_at)) * 24.0


def _fix_quantiles(
    dialect: str, key: Any, conditions: Sequence[ColumnElement[bool]]
) -> Select[Any]:
    """Per group: problems fixed, median and p90 hours to fix, computed in the database with
    linear interpolation between the two nearest ranks (numpy's and pandas' default): with
    ``percentile_cont`` on PostgreSQL, with ranks and counts from window functions elsewhere."""
    hours = _hours_to_fix(dialect)
    if dialect == "postgresql":
        return (
            select(
                key.label("key"),
                func.count(),
                func.percentile_cont(0.5).within_group(hours),
                func.percentile_cont(0.9).within_group(hours),
            )
            .where(*conditions)
            .group_by(key)
        )
    ranked = (
        select(
            key.label("key"),
            hours.label("hours"),
            (func.row_number().over(partition_by=key, order_by=hours) - 1).label("rank"),
            func.count().over(partition_by=key).label("n"),
        )
        .where(*conditions)
        .subquery("ranked")
    )
    r = ranked.c

    def interpolated(q: float) -> Any:
        position = (r.n - 1) * q
        low = cast(position, Integer)  # floor: the position is never negative
        fraction = position - low
        return func.sum(
            case(
                (r.rank == low, r.hours * (1 - fraction)),
                (r.rank == low + 1, r.hours * fraction),
                else_=0.0,
            )
        )

    return select(r.key, func.max(r.n), interpolated(0.5), interpolated(0.9)).group_by(r.key)


def time_to_fix(session: Session, level: Level, filters: Filters) -> list[dict[str, Any]]:
    """Problems fixed within ``[from, to]`` (by the day of the fixing scan, UTC): count, median
    and p90 of the hours from the first scan showing the problem to the first showing it
    fixed; plus the problems still open at the end of the range."""
    if level not in (Level.CHAIN, Level.REGION, Level.STORE, Level.PRODUCT):
        raise ValueError("time to fix is given by chain, region, store or product")
    if level in (Level.CHAIN, Level.REGION) and not (
        filters.store or filters.bay or filters.by_product or filters.store_ids is not None
    ):
        return _time_to_fix_from_histogram(session, level, filters)
    e = ProblemEpisode
    scope = _where(e, Filters(**{**filters.__dict__, "date_from": None, "date_to": None}))
    key = {
        Level.CHAIN: literal("chain"),
        Level.REGION: e.region,
        Level.STORE: e.store_id,
        Level.PRODUCT: e.product_key,
    }[level]
    closed_conditions: list[ColumnElement[bool]] = [*scope, e.closed_at.is_not(None)]
    still_open = select(key.label("key"), func.count()).where(*scope)
    end = _day_start(filters.date_to + timedelta(days=1)) if filters.date_to else None
    if filters.date_from is not None:
        closed_conditions.append(e.closed_at >= _day_start(filters.date_from))
    if end is not None:
        closed_conditions.append(e.closed_at < end)
        still_open = still_open.where(
            e.opened_at < end, or_(e.closed_at.is_(None), e.closed_at >= end)
        )
    else:
        still_open = still_open.where(e.closed_at.is_(None))
    if filters.category or filters.brand:
        products = select(DimProduct.product_key).where(
            *([DimProduct.category == filters.category] if filters.category else []),
            *([DimProduct.brand == filters.brand] if filters.brand else []),
        )
        closed_conditions.append(e.product_key.in_(products))
        still_open = still_open.where(e.product_key.in_(products))
    if filters.product:
        closed_conditions.append(e.product_key == filters.product)
        still_open = still_open.where(e.product_key == filters.product)
    dialect = session.get_bind().dialect.name
    fixed = {
        group: (int(count), median, p90)
        for group, count, median, p90 in session.execute(
            _fix_quantiles(dialect, key, closed_conditions)
        )
    }
    open_counts = dict(session.execute(still_open.group_by(key)).all())  # type: ignore[arg-type]
    keys = set(fixed) | set(open_counts)
    names = (
        _names(session, {k for k in keys if isinstance(k, int)}, set())
        if level is Level.STORE
        else None
    )
    rows = []
    for group in sorted(keys, key=str):
        count, median, p90 = fixed.get(group, (0, None, None))
        row: dict[str, Any] = {
            "level": level.value,
            "fixed": count,
            "median_hours": None if median is None else float(median),
            "p90_hours": None if p90 is None else float(p90),
            "still_open": int(open_counts.get(group, 0)),
        }
        if level is Level.REGION:
            row["region"] = group
        elif level is Level.STORE and names is not None:
            row["store"] = names.codes.get(group, (None,))[0]
        elif level is Level.PRODUCT:
            row["product"] = group
        rows.append(row)
    return rows


def _time_to_fix_from_histogram(
    session: Session, level: Level, filters: Filters
) -> list[dict[str, Any]]:
    """Chain- and region-level time to fix from the daily fix histogram: a few thousand rows
    instead of every fixed problem; median and p90 within 2 % (see
    :mod:`shelfscan.analytics.fix_histogram`), counts exact."""
    h = DailyFix
    region_key = func.nullif(h.region, "")
    conditions: list[ColumnElement[bool]] = []
    if filters.region:
        conditions.append(h.region == filters.region)
    fixed_conditions = [*conditions, h.bucket >= 0]
    if filters.date_from is not None:
        fixed_conditions.append(h.day >= filters.date_from)
    if filters.date_to is not None:
        fixed_conditions.append(h.day <= filters.date_to)
        # still open at the end of the range: opened up to then, less fixed up to then
        conditions.append(h.day <= filters.date_to)
    histograms: dict[Any, dict[int, fix_histogram.Bucket]] = defaultdict(dict)
    for region, bucket, problems, hours_sum, hours_sq in session.execute(
        select(
            region_key, h.bucket, func.sum(h.problems), func.sum(h.hours_sum),
            func.sum(h.hours_sq),
        ).where(*fixed_conditions).group_by(region_key, h.bucket)
    ):  # fmt: skip
        group = "chain" if level is Level.CHAIN else region
        entry = histograms[group].setdefault(bucket, fix_histogram.Bucket())
        entry.problems += int(problems or 0)
        entry.hours_sum += float(hours_sum or 0.0)
        entry.hours_sq += float(hours_sq or 0.0)
    opened_minus_fixed = func.sum(
        case((h.bucket == fix_histogram.OPENED, h.problems), else_=-h.problems)
    )
    open_counts: dict[Any, int] = defaultdict(int)
    for region, count in session.execute(
        select(region_key, opened_minus_fixed).where(*conditions).group_by(region_key)
    ):
        open_counts["chain" if level is Level.CHAIN else region] += int(count or 0)
    fixed_counts = {
        group: sum(b.problems for b in buckets.values()) for group, buckets in histograms.items()
    }
    keys = {g for g, n in fixed_counts.items() if n > 0} | {
        g for g, n in open_counts.items() if n > 0
    }
    rows = []
    for group in sorted(keys, key=str):
        buckets = histograms.get(group, {})
        row: dict[str, Any] = {
            "level": level.value,
            "fixed": fixed_counts.get(group, 0),
            "median_hours": fix_histogram.quantile(buckets, 0.5),
            "p90_hours": fix_histogram.quantile(buckets, 0.9),
            "still_open": open_counts.get(group, 0),
        }
        if level is Level.REGION:
            row["region"] = group
        rows.append(row)
    return rows


# --- drill-down and export ---------------------------------------------------------------------


def scans(session: Session, filters: Filters, *, limit: int = 100) -> list[dict[str, Any]]:
    """The scans behind a number: newest first, with their counts and scores."""
    f = FactScan
    statement = (
        select(f, Store.code, Bay.code.label("bay_code"))
        .join(Store, Store.id == f.store_id)
        .join(Bay, Bay.id == f.bay_id)
        .where(*_where(f, filters))
        .order_by(f.scanned_at.desc(), f.scan_id.desc())
        .limit(limit)
    )
    if filters.by_product:
        products = select(FactFacing.scan_id).where(
            or_(
                FactFacing.planned_product.in_(_product_keys(filters)),
                FactFacing.found_product.in_(_product_keys(filters)),
            )
        )
        statement = statement.where(f.scan_id.in_(products))
    rows = []
    for scan, store_code, bay_code in session.execute(statement):
        counts = {k: getattr(scan, k) for k in ("visible", "ok", "gap", "misplaced", "unexpected")}
        scores = ratios(counts | {"credited": None})
        scores.pop("facings_compliance")
        rows.append(
            {
                "scan_id": scan.scan_id,
                "source": scan.source,
                "store": store_code,
                "bay": bay_code,
                "region": scan.region,
                "scanned_at": scan.scanned_at,
                "scan_date": scan.scan_date,
                **counts,
                **scores,
            }
        )
    return rows


def _product_keys(filters: Filters) -> Select[Any]:
    conditions = []
    if filters.product:
        conditions.append(DimProduct.product_key == filters.product)
    if filters.category:
        conditions.append(DimProduct.category == filters.category)
    if filters.brand:
        conditions.append(DimProduct.brand == filters.brand)
    return select(DimProduct.product_key).where(and_(*conditions))


FACT_EXPORT_COLUMNS = (
    "fact_id",
    "scan_id",
    "store",
    "region",
    "bay",
    "fixture_id",
    "facing_id",
    "planned_product",
    "found_product",
    "status",
    "reason",
    "scanned_at",
    "scan_date",
    "planogram_version_id",
    "photo_key",
)


def facts_since(
    session: Session, filters: Filters, *, since: int = 0, limit: int = 10_000
) -> tuple[list[dict[str, Any]], int]:
    """Facing rows with an id above the cursor ``since``, oldest first; the next cursor."""
    f = FactFacing
    statement = (
        select(
            f.id,
            f.scan_id,
            Store.code,
            f.region,
            Bay.code,
            f.fixture_id,
            f.facing_id,
            f.planned_product,
            f.found_product,
            f.status,
            f.reason,
            f.scanned_at,
            f.scan_date,
            f.planogram_version_id,
            f.photo_key,
        )
        .join(Store, Store.id == f.store_id)
        .join(Bay, Bay.id == f.bay_id)
        .where(f.id > since, *_where(f, filters))
        .order_by(f.id)
        .limit(limit)
    )
    rows = [dict(zip(FACT_EXPORT_COLUMNS, row, strict=True)) for row in session.execute(statement)]
    cursor = rows[-1]["fact_id"] if rows else since
    return rows, cursor


def select_last_day() -> Select[Any]:
    """The latest day with numbers: where the dashboards' default range ends."""
    return select(func.max(DailyBay.scan_date))


def dimension_values(session: Session, filters: Filters) -> dict[str, list[str]]:
    """What the filter drop-downs offer: regions, stores, categories, brands (in scope)."""
    stores = select(Store.code, Store.name, Store.region).order_by(Store.code)
    if filters.store_ids is not None:
        stores = stores.where(Store.id.in_(filters.store_ids))
    store_rows = session.execute(stores).all()
    categories = session.scalars(
        select(DimProduct.category).where(DimProduct.category.is_not(None)).distinct()
    ).all()
    brands = session.scalars(
        select(DimProduct.brand).where(DimProduct.brand.is_not(None)).distinct()
    ).all()
    bounds = session.execute(
        select(func.min(DailyBay.scan_date), func.max(DailyBay.scan_date))
    ).one()
    return {
        "regions": sorted({r for _, _, r in store_rows if r}),
        "stores": [code for code, _, _ in store_rows],
        "store_names": {code: name for code, name, _ in store_rows},  # type: ignore[dict-item]
        "categories": sorted(categories),
        "brands": sorted(brands),
        "first_day": bounds[0].isoformat() if bounds[0] else None,  # type: ignore[dict-item]
        "last_day": bounds[1].isoformat() if bounds[1] else None,  # type: ignore[dict-item]
    }


__all__: Sequence[str] = [
    "Filters",
    "Level",
    "Period",
    "dimension_values",
    "facts_since",
    "kpi_rows",
    "league",
    "offenders",
    "scans",
    "sums_select",
    "time_to_fix",
]
