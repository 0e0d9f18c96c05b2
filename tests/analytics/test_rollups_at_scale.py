"""The structures that keep the dashboards fast at millions of rows answer exactly what the
per-bay rollups answer: the daily product × region rollup (kept up by the write path and
rebuilt), product figures read from it, and repeat offenders ranked in the database."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from shelfscan.analytics import facts as analytics_facts
from shelfscan.analytics.models import (
    DailyBay,
    DailyProduct,
    DailyStore,
    FactScan,
    RegionDailyProduct,
)
from shelfscan.analytics.queries import Filters, Level, Period, kpi_rows, offenders
from shelfscan.db.models import Store
from shelfscan.db.session import session_scope

SUMS = ("visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited")


def _region_table(session: Any) -> dict[tuple[Any, ...], tuple[int, ...]]:
    w = RegionDailyProduct
    return {
        (row.scan_date, row.region, row.product_key): tuple(getattr(row, n) for n in SUMS)
        for row in session.execute(select(w).where(w.visible + w.seen > 0)).scalars()
    }


def _region_from_bays(session: Any) -> dict[tuple[Any, ...], tuple[int, ...]]:
    d = DailyProduct
    region = func.coalesce(d.region, "")
    statement = select(
        d.scan_date, region, d.product_key, *(func.sum(getattr(d, n)) for n in SUMS)
    ).group_by(d.scan_date, region, d.product_key)
    return {tuple(row[:3]): tuple(int(v) for v in row[3:]) for row in session.execute(statement)}


STORE_SUMS = ("scans", "visible", "ok", "gap", "misplaced", "unexpected", "credited")


def _store_table(session: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    w = DailyStore
    return {
        (row.scan_date, row.store_id): (
            row.region,
            row.week_start,
            *(getattr(row, n) for n in STORE_SUMS),
        )
        for row in session.execute(select(w).where(w.scans > 0)).scalars()
    }


def _store_from_bays(session: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    d = DailyBay
    statement = select(
        d.scan_date,
        d.store_id,
        func.max(d.region),
        func.max(d.week_start),
        *(func.sum(getattr(d, n)) for n in STORE_SUMS),
    ).group_by(d.scan_date, d.store_id)
    return {
        tuple(row[:2]): (row[2], row[3], *(int(v) for v in row[4:]))
        for row in session.execute(statement)
    }


def _report(products: list[str], shift: int) -> dict[str, Any]:
    facings = []
    for index, product in enumerate(products):
        status = ("ok", "gap", "misplaced")[(index + shift) % 3]
        found = {"ok": product, "gap": None, "misplaced": products[0]}[status]
        facings.append(
            {
                "facing_id": f"F{index + 1}",
                "product_id": product,
                "product_name": product,
                "fixture_id": "shelf-1",
                "status": status,
                "reason": "test",
                "found_product_id": found,
            }
        )
    unexpected = [{"product_id": "STRANGER", "label": "Stranger", "fixture_id": "shelf-1"}]
    return {"facings": facings, "unexpected": unexpected}


def test_region_rollup_follows_each_written_scan(chain_url: str) -> None:
    with session_scope(chain_url) as session:
        assert _region_table(session) == _region_from_bays(session) != {}
        assert _store_table(session) == _store_from_bays(session) != {}
        last = session.execute(
            select(FactScan).order_by(FactScan.scanned_at.desc()).limit(1)
        ).scalar_one()
        products = [
            key for (key,) in session.execute(select(DailyProduct.product_key).distinct().limit(4))
        ]
        place = dict(store_id=last.store_id, region=last.region, bay_id=last.bay_id)
    # a second scan on a bay-day that has one, then one on a new day
    for index, at in enumerate((last.scanned_at + timedelta(minutes=5),
                                last.scanned_at + timedelta(days=8))):  # fmt: skip
        scan = analytics_facts.ScanPlace(scan_id=f"extra-{index}", scanned_at=at, **place)
        with session_scope(chain_url) as session:
            analytics_facts.write_facts(session, [(scan, _report(products, index))], {})
    with session_scope(chain_url) as session:
        incremental = _region_table(session)
        assert incremental == _region_from_bays(session)
        incremental_stores = _store_table(session)
        assert incremental_stores == _store_from_bays(session)
        analytics_facts.refresh_rollups(session)
        assert _region_table(session) == incremental
        assert _store_table(session) == incremental_stores


RANGES = [
    (date(2026, 11, 9), date(2026, 11, 29)),  # whole weeks
    (date(2026, 11, 11), date(2026, 11, 26)),  # weeks cut at both ends
    (date(2026, 11, 10), date(2026, 11, 14)),  # inside one week
]


def test_product_figures_equal_the_daily_rollup(chain_url: str) -> None:
    compared = 0
    with session_scope(chain_url) as session:
        for level in (Level.PRODUCT, Level.BRAND, Level.CATEGORY):
            for period in (Period.DAY, Period.WEEK, Period.ALL):
                for start, end in RANGES:
                    fast = kpi_rows(session, level, period, Filters(date_from=start, date_to=end))
                    # a scope of every store makes the query read the per-bay rollup
                    everywhere = Filters(date_from=start, date_to=end, store_ids=select(Store.id))
                    slow = kpi_rows(session, level, period, everywhere)
                    assert fast, (level, period, start, end)
                    assert _without_links(fast) == _without_links(slow), (level, period, start)
                    compared += len(fast)
    assert compared > 100


def test_chain_region_store_figures_equal_the_per_bay_rollup(chain_url: str) -> None:
    """Without a bay filter these levels read the per-store rollup; the same figures summed
    from the per-bay rollup (a bay level, added up here) must agree exactly."""
    compared = 0
    with session_scope(chain_url) as session:
        for period in (Period.DAY, Period.WEEK, Period.ALL):
            for start, end in RANGES:
                filters = Filters(date_from=start, date_to=end)
                by_bay = kpi_rows(session, Level.BAY, period, filters)
                for level, key in ((Level.CHAIN, ()), (Level.REGION, ("region",)),
                                   (Level.STORE, ("store",))):  # fmt: skip
                    fast = kpi_rows(session, level, period, filters)
                    summed: dict[tuple[Any, ...], dict[str, int]] = {}
                    for row in by_bay:
                        group = (row["period"], *(row[k] for k in key))
                        totals = summed.setdefault(group, dict.fromkeys(STORE_SUMS, 0))
                        for name in STORE_SUMS:
                            totals[name] += row[name]
                    assert fast, (level, period, start)
                    assert {
                        (row["period"], *(row[k] for k in key)): {n: row[n] for n in STORE_SUMS}
                        for row in fast
                    } == summed, (level, period, start)
                    compared += len(fast)
    assert compared > 100


def _without_links(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "scan_filter"} for row in rows]


def test_category_filter_on_chain_and_region_reads_the_region_rollup(chain_url: str) -> None:
    with session_scope(chain_url) as session:
        category = session.scalar(select(func.max(DailyProduct.category)))
        for level in (Level.CHAIN, Level.REGION):
            fast = kpi_rows(
                session, level, Period.WEEK, Filters(date_from=date(2026, 11, 4), category=category)
            )
            slow = kpi_rows(
                session,
                level,
                Period.WEEK,
                Filters(date_from=date(2026, 11, 4), category=category, store_ids=select(Store.id)),
            )
            assert fast and [r["visible"] for r in fast] == [r["visible"] for r in slow]
            assert [r.get("region") for r in fast] == [r.get("region") for r in slow]


def test_offenders_ranked_in_the_database(chain_url: str) -> None:
    n, m = 2, 3
    with session_scope(chain_url) as session:
        every = offenders(session, Filters(), n=n, m=m, limit=100_000)
        top = offenders(session, Filters(), n=n, m=m, limit=5)
        products = offenders(session, Filters(), n=n, m=m, by="product", limit=100_000)
        top_products = offenders(session, Filters(), n=n, m=m, by="product", limit=3)
    assert len(every) > 5
    assert top == every[:5]
    per_product: dict[str, list[dict[str, Any]]] = {}
    for row in every:
        per_product.setdefault(row["product"], []).append(row)
    assert {p["product"]: (p["facings"], p["stores"], p["failing"]) for p in products} == {
        key: (len(rows), len({r["store"] for r in rows}), sum(r["failing"] for r in rows))
        for key, rows in per_product.items()
    }
    assert top_products == products[:3]
