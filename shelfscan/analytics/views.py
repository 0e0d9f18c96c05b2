"""The reporting views: the contract BI tools (Power BI, Tableau, Metabase, Superset) read.

PostgreSQL gets them in a ``reporting`` schema (``reporting.fact_facing``); SQLite, which has
no schemas, as prefixed views (``reporting_fact_facing``). ``reporting.version`` says which
version of the contract a database carries; ``docs/bi-views.md`` documents every column, and
``tests/analytics/test_views.py`` guards names and columns on both databases. A change that
removes or renames a column is a new version (new migration), never an edit in place.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

REPORTING_VERSION = 1

_RATIO = "CAST({num} AS DOUBLE PRECISION) / NULLIF({den}, 0)"


def _kpis(prefix: str = "") -> str:
    return ",\n       ".join(
        [
            _RATIO.format(num=f"{prefix}ok", den=f"{prefix}visible") + " AS on_shelf_availability",
            _RATIO.format(num=f"{prefix}gap", den=f"{prefix}visible") + " AS out_of_stock_rate",
            f"CASE WHEN {prefix}visible > 0 THEN "
            + _RATIO.format(num=f"{prefix}ok", den=f"{prefix}visible + {prefix}unexpected")
            + " END AS planogram_compliance",
            _RATIO.format(num=f"{prefix}credited", den=f"{prefix}visible")
            + " AS facings_compliance",
        ]
    )


# name -> (body, columns in order). The columns are the contract.
VIEWS: dict[str, str] = {
    "version": f"SELECT {REPORTING_VERSION} AS version",
    "dim_region": "SELECT code AS region, name AS region_name, time_zone FROM regions",
    "dim_store": (
        "SELECT id AS store_id, code AS store_code, name AS store_name, region FROM stores"
    ),
    "dim_bay": (
        "SELECT b.id AS bay_id, b.store_id, s.code AS store_code, b.code AS bay_code, "
        "b.name AS bay_name FROM bays b JOIN stores s ON s.id = b.store_id"
    ),
    "dim_product": (
        "SELECT product_key, name AS product_name, brand, category FROM analytics_dim_product"
    ),
    "dim_date": (
        "SELECT day, week_start, iso_year, iso_week, weekday, month FROM analytics_dim_date"
    ),
    "fact_scan": (
        "SELECT f.scan_id, f.source, f.store_id, s.code AS store_code, f.region, f.bay_id, "
        "b.code AS bay_code, f.scanned_at, f.scan_date, f.week_start, f.planogram_version_id, "
        "f.photo_key, f.facings, f.visible, f.ok, f.gap, f.misplaced, f.unexpected "
        "FROM analytics_fact_scan f JOIN stores s ON s.id = f.store_id "
        "JOIN bays b ON b.id = f.bay_id"
    ),
    "fact_facing": (
        "SELECT f.id AS fact_id, f.scan_id, f.store_id, s.code AS store_code, f.region, "
        "f.bay_id, b.code AS bay_code, f.fixture_id, f.facing_id, f.planned_product, "
        "f.found_product, f.status, f.reason, f.scanned_at, f.scan_date, f.week_start, "
        "f.planogram_version_id, f.photo_key "
        "FROM analytics_fact_facing f JOIN stores s ON s.id = f.store_id "
        "JOIN bays b ON b.id = f.bay_id"
    ),
    "daily_bay_kpis": (
        "SELECT scan_date, week_start, store_id, region, bay_id, scans, visible, ok, gap, "
        f"misplaced, unexpected, credited,\n       {_kpis()} FROM analytics_daily_bay"
    ),
    "daily_product_kpis": (
        "SELECT scan_date, week_start, store_id, region, bay_id, product_key, brand, category, "
        f"visible, ok, gap, misplaced, unexpected, seen, credited,\n       {_kpis()} "
        "FROM analytics_daily_product"
    ),
    "problem_episodes": (
        "SELECT id AS episode_id, store_id, region, bay_id, facing_id, product_key, "
        "opened_scan_id, opened_at, closed_scan_id, closed_at, failing_scans "
        "FROM analytics_problem_episode"
    ),
}

# The contract: every view's columns, in order (the test compares the database with this).
COLUMNS: dict[str, tuple[str, ...]] = {
    "version": ("version",),
    "dim_region": ("region", "region_name", "time_zone"),
    "dim_store": ("store_id", "store_code", "store_name", "region"),
    "dim_bay": ("bay_id", "store_id", "store_code", "bay_code", "bay_name"),
    "dim_product": ("product_key", "product_name", "brand", "category"),
    "dim_date": ("day", "week_start", "iso_year", "iso_week", "weekday", "month"),
    "fact_scan": (
        "scan_id", "source", "store_id", "store_code", "region", "bay_id", "bay_code",
        "scanned_at", "scan_date", "week_start", "planogram_version_id", "photo_key", "facings",
        "visible", "ok", "gap", "misplaced", "unexpected",
    ),
    "fact_facing": (
        "fact_id", "scan_id", "store_id", "store_code", "region", "bay_id", "bay_code",
        "fixture_id", "facing_id", "planned_product", "found_product", "status", "reason",
        "scanned_at", "scan_date", "week_start", "planogram_version_id", "photo_key",
    ),
    "daily_bay_kpis": (
        "scan_date", "week_start", "store_id", "region", "bay_id", "scans", "visible", "ok",
        "gap", "misplaced", "unexpected", "credited", "on_shelf_availability",
        "out_of_stock_rate", "planogram_compliance", "facings_compliance",
    ),
    "daily_product_kpis": (
        "scan_date", "week_start", "store_id", "region", "bay_id", "product_key", "brand",
        "category", "visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited",
        "on_shelf_availability", "out_of_stock_rate", "planogram_compliance",
        "facings_compliance",
    ),
    "problem_episodes": (
        "episode_id", "store_id", "region", "bay_id", "facing_id", "product_key",
        "opened_scan_id", "opened_at", "closed_scan_id", "closed_at", "failing_scans",
    ),
}  # fmt: skip


def view_name(dialect: str, name: str) -> str:
    """Where BI tools find view ``name`` on this database."""
    return f"reporting.{name}" if dialect == "postgresql" else f"reporting_{name}"


def create_views(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS reporting"))
    for name, body in VIEWS.items():
        connection.execute(text(f"CREATE VIEW {view_name(dialect, name)} AS {body}"))


def drop_views(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("DROP SCHEMA IF EXISTS reporting CASCADE"))
        return
    for name in reversed(list(VIEWS)):
        connection.execute(text(f"DROP VIEW IF EXISTS {view_name(dialect, name)}"))
