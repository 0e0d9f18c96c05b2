"""The aggregate API behind the dashboards and BI exports: ``/api/v1/analytics/...``.

Aggregation runs in the database (:mod:`shelfscan.analytics.queries`); pandas shapes and writes
the CSV and Parquet answers. Every number is limited to the caller's stores
(:func:`shelfscan.analytics.scope.store_scope`) and every row links to the scans behind it.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shelfscan.analytics import queries
from shelfscan.analytics.kpis import DEFAULT_OFFENDER_M, DEFAULT_OFFENDER_N
from shelfscan.analytics.queries import Filters, Level, Period
from shelfscan.analytics.scope import store_scope
from shelfscan.api.deps import DbSession
from shelfscan.auth.roles import Permission
from shelfscan.services.errors import Invalid

PREFIX = "/api/v1/analytics"
router = APIRouter(prefix=PREFIX, tags=["analytics"])


class OutputFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


class OffenderGrain(StrEnum):
    FACING = "facing"
    PRODUCT = "product"


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class KpiRow(_Row):
    level: str
    period: date | None = Field(description="Day, or Monday of the week; null for by=all")
    period_start: date | None
    period_end: date | None
    region: str | None = None
    store: str | None = None
    bay: str | None = None
    product: str | None = None
    brand: str | None = None
    category: str | None = None
    visible: int
    ok: int
    gap: int
    misplaced: int
    unexpected: int
    credited: int
    on_shelf_availability: float | None
    out_of_stock_rate: float | None
    planogram_compliance: float | None
    facings_compliance: float | None
    scans: int | None = None
    scans_expected: float | None = None
    scans_done_rate: float | None = None
    share_of_shelf: float | None = None
    planned_share: float | None = None
    scans_url: str = Field(description="The scans behind this row")


class KpiPage(BaseModel):
    level: Level
    by: Period
    date_from: date | None
    date_to: date | None
    rows: list[KpiRow]


class LeagueRow(KpiRow):
    rank: int
    previous_rank: int | None
    planogram_compliance_change: float | None
    on_shelf_availability_change: float | None
    out_of_stock_rate_change: float | None


class LeaguePage(BaseModel):
    date_from: date
    date_to: date
    previous_from: date
    previous_to: date
    rows: list[LeagueRow]


class OffenderRow(_Row):
    product: str | None
    product_name: str | None
    failing: int = Field(description="Failing scans among the last `of_last`")
    of_last: int
    last_scan_id: str | None
    scan_url: str | None


class OffenderPage(BaseModel):
    n: int
    m: int
    by: OffenderGrain
    rows: list[OffenderRow]


class TimeToFixRow(_Row):
    level: str
    fixed: int
    median_hours: float | None
    p90_hours: float | None
    still_open: int


class ScanRow(_Row):
    scan_id: str
    source: str
    store: str
    bay: str
    scan_url: str | None = Field(description="The scan and its report (real scans only)")
    photo_url: str | None = Field(description="The annotated photo (real scans only)")


class FactPage(BaseModel):
    since: int
    next: int = Field(description="The cursor for the next call (since=next)")
    rows: list[dict[str, Any]]


class Dimensions(BaseModel):
    regions: list[str]
    stores: list[str]
    store_names: dict[str, str]
    categories: list[str]
    brands: list[str]
    first_day: date | None
    last_day: date | None


def _filters(
    request: Request,
    session: DbSession,
    date_from: date | None,
    date_to: date | None,
    region: str | None,
    store: str | None,
    bay: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    product: str | None = None,
    default_days: int | None = 28,
) -> Filters:
    if date_from and date_to and date_from > date_to:
        raise Invalid("invalid_range", f"from ({date_from}) is after to ({date_to})", field="from")
    if bay and not store:
        raise Invalid(
            "invalid_filter", "bay needs store: bay codes repeat across stores", field="bay"
        )
    if default_days and (date_from is None or date_to is None):
        last = date_to or session.scalar(queries.select_last_day()) or date.today()
        date_to = last
        date_from = date_from or last - timedelta(days=default_days - 1)
    principal = getattr(request.state, "principal", None)
    return Filters(
        date_from=date_from,
        date_to=date_to,
        region=region,
        store=store,
        bay=bay,
        category=category,
        brand=brand,
        product=product,
        store_ids=store_scope(principal),
    )


def _tabular(rows: list[dict[str, Any]], output: OutputFormat, name: str) -> Response | None:
    """CSV or Parquet of tidy rows (pandas writes them); None for JSON."""
    if output is OutputFormat.JSON:
        return None
    import pandas as pd

    if output is OutputFormat.CSV:
        # object columns: inferring typed (Arrow string) columns only to print them again
        # cost a third more for a thousand-store export
        frame = pd.DataFrame(rows, dtype=object)
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    frame = pd.DataFrame(rows)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.apache.parquet",
        headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
    )


@lru_cache(maxsize=8192)
def _quoted(value: str) -> str:
    return quote_plus(value)


def _scans_url(query: dict[str, str]) -> str:
    # urlencode for thousands of rows that share most values (dates, regions) costs more than
    # the query behind them: the same encoding, remembered per value
    encoded = "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in query.items())
    return f"{PREFIX}/scans?{encoded}"


def _json(page: BaseModel) -> Response:
    """A page serialized by pydantic in one go. FastAPI would validate the model again and
    walk every row in Python first, which for a thousand-store page took longer than the
    query behind it; the declared response_model still documents the answer."""
    return Response(page.model_dump_json(), media_type="application/json")


def _scan_links(store: str | None, scan_id: str | None, source: str = "scan") -> dict[str, Any]:
    if not store or not scan_id or source != "scan":
        return {"scan_url": None, "photo_url": None}
    base = f"/api/v1/stores/{store}/scans/{scan_id}"
    return {"scan_url": base, "photo_url": f"{base}/annotated.jpg"}


FromQ = Annotated[date | None, Query(alias="from", description="First day (inclusive)")]
ToQ = Annotated[date | None, Query(alias="to", description="Last day (inclusive)")]
FormatQ = Annotated[OutputFormat, Query(alias="format")]


@router.get("/kpis", response_model=KpiPage, summary="KPIs by level and day or week")
def kpis(
    request: Request,
    session: DbSession,
    level: Level = Level.CHAIN,
    by: Period = Period.WEEK,
    date_from: FromQ = None,
    date_to: ToQ = None,
    region: str | None = None,
    store: str | None = None,
    bay: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    product: str | None = None,
    expected_per_week: Annotated[float, Query(gt=0, le=100)] = 2.0,
    output: FormatQ = OutputFormat.JSON,
) -> Any:
    filters = _filters(
        request, session, date_from, date_to, region, store, bay, category, brand, product
    )
    rows = queries.kpi_rows(session, level, by, filters, expected_per_bay_week=expected_per_week)
    for row in rows:
        row["scans_url"] = _scans_url(row.pop("scan_filter"))
    return _tabular(rows, output, f"kpis-{level}-{by}") or _json(
        KpiPage(level=level, by=by, date_from=filters.date_from, date_to=filters.date_to, rows=rows)
    )


@router.get("/league", response_model=LeaguePage, summary="Stores ranked, with the change")
def league(
    request: Request,
    session: DbSession,
    date_from: FromQ = None,
    date_to: ToQ = None,
    region: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    output: FormatQ = OutputFormat.JSON,
) -> Any:
    filters = _filters(
        request, session, date_from, date_to, region, None, None, category, brand, default_days=7
    )
    assert filters.date_from is not None and filters.date_to is not None
    rows = queries.league(session, filters)
    for row in rows:
        row["scans_url"] = _scans_url(row.pop("scan_filter"))
    length = (filters.date_to - filters.date_from).days + 1
    return _tabular(rows, output, "league") or _json(
        LeaguePage(
            date_from=filters.date_from,
            date_to=filters.date_to,
            previous_from=filters.date_from - timedelta(days=length),
            previous_to=filters.date_from - timedelta(days=1),
            rows=rows,
        )
    )


@router.get("/offenders", response_model=OffenderPage, summary="Repeat offenders")
def offenders(
    request: Request,
    session: DbSession,
    n: Annotated[int, Query(ge=1, le=16, description="Failing in at least n ...")] = (
        DEFAULT_OFFENDER_N
    ),
    m: Annotated[int, Query(ge=1, le=16, description="... of the last m scans")] = (
        DEFAULT_OFFENDER_M
    ),
    by: OffenderGrain = OffenderGrain.FACING,
    region: str | None = None,
    store: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 50,
    output: FormatQ = OutputFormat.JSON,
) -> Any:
    if n > m:
        raise Invalid("invalid_filter", f"n ({n}) must not exceed m ({m})", field="n")
    filters = _filters(
        request, session, None, None, region, store, None, category, brand, default_days=None
    )
    rows = queries.offenders(session, filters, n=n, m=m, by=by.value, limit=limit)
    for row in rows:
        row["scan_url"] = _scan_links(row.get("store"), row.get("last_scan_id"))["scan_url"]
    return _tabular(rows, output, "offenders") or OffenderPage(n=n, m=m, by=by, rows=rows)


@router.get("/time-to-fix", response_model=list[TimeToFixRow], summary="Time to fix problems")
def time_to_fix(
    request: Request,
    session: DbSession,
    level: Level = Level.CHAIN,
    date_from: FromQ = None,
    date_to: ToQ = None,
    region: str | None = None,
    store: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    output: FormatQ = OutputFormat.JSON,
) -> Any:
    if level not in (Level.CHAIN, Level.REGION, Level.STORE, Level.PRODUCT):
        raise Invalid("invalid_level", "time to fix is by chain, region, store or product")
    filters = _filters(request, session, date_from, date_to, region, store, None, category, brand)
    rows = queries.time_to_fix(session, level, filters)
    return _tabular(rows, output, "time-to-fix") or rows


@router.get("/scans", response_model=list[ScanRow], summary="The scans behind a number")
def scans(
    request: Request,
    session: DbSession,
    date_from: FromQ = None,
    date_to: ToQ = None,
    region: str | None = None,
    store: str | None = None,
    bay: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    product: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    filters = _filters(
        request, session, date_from, date_to, region, store, bay, category, brand, product,
        default_days=None,
    )  # fmt: skip
    rows = queries.scans(session, filters, limit=limit)
    for row in rows:
        row |= _scan_links(row["store"], row["scan_id"], row["source"])
    return rows


@router.get("/facts", response_model=FactPage, summary="Facing rows after a cursor")
def facts(
    request: Request,
    session: DbSession,
    since: Annotated[int, Query(ge=0, description="The `next` of the previous call")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    region: str | None = None,
    store: str | None = None,
    output: FormatQ = OutputFormat.JSON,
) -> Any:
    filters = _filters(request, session, None, None, region, store, default_days=None)
    rows, cursor = queries.facts_since(session, filters, since=since, limit=limit)
    tabular = _tabular(rows, output, f"facts-{since}-{cursor}")
    if tabular is not None:
        tabular.headers["X-Next-Cursor"] = str(cursor)
        return tabular
    return FactPage(since=since, next=cursor, rows=rows)


@router.get("/dimensions", response_model=Dimensions, summary="What the filters offer")
def dimensions(request: Request, session: DbSession) -> Any:
    filters = _filters(request, session, None, None, None, None, default_days=None)
    return queries.dimension_values(session, filters)


class ChartName(StrEnum):
    TREND = "trend"
    LEAGUE = "league"
    TOP_OUT_OF_STOCK = "top-out-of-stock"
    HEATMAP = "heatmap"
    SCANS_DONE = "scans-done"


@router.get(
    "/charts/{name}",
    response_model=dict[str, Any],
    summary="A Vega-Lite spec with its data (the dashboard's and the weekly report's charts)",
)
def chart(
    name: ChartName,
    request: Request,
    session: DbSession,
    spec_format: Annotated[
        Literal["vega-lite", "vega"],
        Query(
            alias="format",
            description="vega-lite: the chart's spec as written; vega: compiled to Vega on the "
            "server (what the dashboard draws, without loading Vega-Lite in the browser)",
        ),
    ] = "vega-lite",
    date_from: FromQ = None,
    date_to: ToQ = None,
    region: str | None = None,
    store: str | None = None,
    category: str | None = None,
    brand: str | None = None,
) -> dict[str, Any]:
    if name is ChartName.HEATMAP and not store:
        raise Invalid("invalid_filter", "the heat map is of one store: give store", field="store")
    filters = _filters(request, session, date_from, date_to, region, store, None, category, brand)
    spec = chart_spec(session, name, filters)
    if spec_format == "vega":
        from shelfscan.analytics.charts import to_vega

        return to_vega(spec)
    return spec


def chart_spec(session: Any, name: ChartName, filters: Filters) -> dict[str, Any]:
    """The one place a chart's data is queried: the page and the report both call it."""
    from shelfscan.analytics import charts

    if name is ChartName.TREND:
        return charts.trend(queries.kpi_rows(session, Level.CHAIN, Period.WEEK, filters))
    if name is ChartName.LEAGUE:
        return charts.league(queries.league(session, filters))
    if name is ChartName.TOP_OUT_OF_STOCK:
        return charts.top_out_of_stock(
            queries.kpi_rows(session, Level.PRODUCT, Period.ALL, filters)
        )
    if name is ChartName.HEATMAP:
        return charts.heatmap(queries.kpi_rows(session, Level.BAY, Period.WEEK, filters))
    return charts.scans_done(queries.kpi_rows(session, Level.CHAIN, Period.WEEK, filters))


# Routes declare who may call them (see shelfscan.api.security): analytics reads store data,
# limited by the scope filter; the dashboard pages themselves hold no data.
ROUTE_PERMISSIONS = {
    ("GET", f"{PREFIX}/{name}"): Permission.STORES_READ
    for name in (
        "kpis", "league", "offenders", "time-to-fix", "scans", "facts", "dimensions",
        "charts/{name}",
    )
}  # fmt: skip
