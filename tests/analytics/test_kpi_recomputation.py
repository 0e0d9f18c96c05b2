"""Every KPI recomputed independently with pandas from the raw facing rows of a generated
chain, compared with what the database computes, at every level and period."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from shelfscan.analytics.fix_histogram import ABSOLUTE_ERROR_HOURS, RELATIVE_ERROR
from shelfscan.analytics.kpis import DEFAULT_EXPECTED_PER_BAY_WEEK
from shelfscan.analytics.queries import Filters, Level, Period, kpi_rows, offenders, time_to_fix
from shelfscan.db.session import engine_for, session_scope

FROM, TO = date(2026, 11, 9), date(2026, 11, 29)  # the chain's last three weeks


def _facts(url: str) -> pd.DataFrame:
    with engine_for(url).connect() as connection:
        facts = pd.read_sql(
            text(
                "SELECT f.*, s.code AS store, b.code AS bay, p.brand, p.category "
                "FROM analytics_fact_facing f JOIN stores s ON s.id = f.store_id "
                "JOIN bays b ON b.id = f.bay_id "
                "LEFT JOIN analytics_dim_product p ON p.product_key = f.planned_product"
            ),
            connection,
        )
        products = pd.read_sql(text("SELECT * FROM analytics_dim_product"), connection)
        bays = pd.read_sql(
            text(
                "SELECT b.id AS bay_id, s.code AS store, s.region, b.code AS bay FROM bays b "
                "JOIN stores s ON s.id = b.store_id"
            ),
            connection,
        )
    facts["scan_date"] = pd.to_datetime(facts["scan_date"]).dt.date
    facts["week_start"] = pd.to_datetime(facts["week_start"]).dt.date
    facts["scanned_at"] = pd.to_datetime(facts["scanned_at"], utc=True)
    _DIMENSIONS["products"] = products.set_index("product_key")
    _DIMENSIONS["bays"] = bays
    return facts


_DIMENSIONS: dict[str, pd.DataFrame] = {}


def _contributions(facts: pd.DataFrame) -> pd.DataFrame:
    """Per scan and product: planned facings in view and their verdicts, unexpected facings
    and facings holding the product — straight from the docs' definitions."""
    keys = ["scan_id", "scan_date", "week_start", "store", "region", "bay"]
    planned = facts[facts.status.isin(["ok", "gap", "misplaced"])].assign(
        product=lambda d: d.planned_product,
        visible=1,
        ok=lambda d: (d.status == "ok").astype(int),
        gap=lambda d: (d.status == "gap").astype(int),
        misplaced=lambda d: (d.status == "misplaced").astype(int),
        unexpected=0,
        seen=0,
    )
    holding = facts[
        facts.status.isin(["ok", "misplaced", "unexpected"]) & facts.found_product.notna()
    ].assign(
        product=lambda d: d.found_product,
        visible=0,
        ok=0,
        gap=0,
        misplaced=0,
        unexpected=lambda d: (d.status == "unexpected").astype(int),
        seen=1,
    )
    columns = [*keys, "product", "visible", "ok", "gap", "misplaced", "unexpected", "seen"]
    both = pd.concat([planned[columns], holding[columns]])
    per_scan = both.groupby([*keys, "product"], as_index=False)[
        ["visible", "ok", "gap", "misplaced", "unexpected", "seen"]
    ].sum()
    per_scan["credited"] = np.minimum(per_scan.seen, per_scan.visible)
    products = _DIMENSIONS["products"]
    per_scan["brand"] = per_scan["product"].map(products["brand"])
    per_scan["category"] = per_scan["product"].map(products["category"])
    return per_scan


KEYS = {
    Level.CHAIN: [],
    Level.REGION: ["region"],
    Level.STORE: ["store"],
    Level.BAY: ["store", "bay"],
    Level.PRODUCT: ["product"],
    Level.BRAND: ["brand"],
    Level.CATEGORY: ["category"],
}


def _expected(facts: pd.DataFrame, level: Level, period: Period) -> dict[tuple, dict[str, Any]]:
    c = _contributions(facts[(facts.scan_date >= FROM) & (facts.scan_date <= TO)])
    period_key = {Period.DAY: ["scan_date"], Period.WEEK: ["week_start"]}[period]
    group = period_key + KEYS[level]
    sums = ["visible", "ok", "gap", "misplaced", "unexpected", "credited", "seen"]
    out = {}
    bays = _DIMENSIONS["bays"]
    scans = (
        c.groupby(group)["scan_id"].nunique()
        if level not in (Level.PRODUCT, Level.BRAND, Level.CATEGORY)
        else None
    )
    for key, frame in c.groupby(group):
        key = key if isinstance(key, tuple) else (key,)
        total = frame[sums].sum()
        row = {
            "on_shelf_availability": total.ok / total.visible if total.visible else None,
            "out_of_stock_rate": total.gap / total.visible if total.visible else None,
            "planogram_compliance": total.ok / (total.visible + total.unexpected)
            if total.visible
            else None,
            "facings_compliance": total.credited / total.visible if total.visible else None,
        }
        if scans is not None:
            row["scans"] = int(scans.loc[key if len(key) > 1 else key[0]])
            members = bays
            for name, value in zip(KEYS[level], key[1:], strict=True):
                members = members[members[name] == value]
            days = 1 if period is Period.DAY else 7
            row["scans_expected"] = len(members) * DEFAULT_EXPECTED_PER_BAY_WEEK * days / 7
        out[tuple(str(k) for k in key)] = row
    return out


def _actual(url: str, level: Level, period: Period) -> dict[tuple, dict[str, Any]]:
    with session_scope(url) as session:
        rows = kpi_rows(session, level, period, Filters(date_from=FROM, date_to=TO))
    out = {}
    for row in rows:
        key = [str(row["period"])] + [str(row[k]) for k in KEYS[level]]
        out[tuple(key)] = row
    return out


@pytest.mark.parametrize("period", [Period.DAY, Period.WEEK])
@pytest.mark.parametrize("level", list(Level))
def test_every_kpi_matches_pandas(chain_url: str, level: Level, period: Period) -> None:
    facts = _facts(chain_url)
    expected = _expected(facts, level, period)
    actual = _actual(chain_url, level, period)
    assert expected, "the generated chain produced no rows"
    assert set(actual) == set(expected)
    for key, want in expected.items():
        got = actual[key]
        for name, value in want.items():
            if value is None:
                assert got[name] is None, (key, name)
            else:
                assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, name)


def test_share_of_shelf_by_brand_matches_pandas(chain_url: str) -> None:
    facts = _facts(chain_url)
    c = _contributions(facts[(facts.scan_date >= FROM) & (facts.scan_date <= TO)])
    c["brand"] = c["brand"].fillna(c["product"])
    with session_scope(chain_url) as session:
        rows = kpi_rows(session, Level.BRAND, Period.WEEK, Filters(date_from=FROM, date_to=TO))
    for row in rows:
        week = c[c.week_start == row["period"]]
        assert row["share_of_shelf"] == pytest.approx(
            week[week.brand == row["brand"]].seen.sum() / week.seen.sum()
        )
        assert row["planned_share"] == pytest.approx(
            week[week.brand == row["brand"]].visible.sum() / week.visible.sum()
        )


def _verdicts(facts: pd.DataFrame) -> pd.DataFrame:
    planned = facts[facts.status.isin(["ok", "gap", "misplaced"])].copy()
    planned["failing"] = planned.status.isin(["gap", "misplaced"])
    return planned.sort_values(["bay_id", "facing_id", "scanned_at", "scan_id"])


def _episodes(facts: pd.DataFrame) -> pd.DataFrame:
    episodes = []
    for (_, _), rows in _verdicts(facts).groupby(["bay_id", "facing_id"]):
        opened = None
        for row in rows.itertuples():
            if row.failing and opened is None:
                opened = row
            elif not row.failing and opened is not None:
                episodes.append(
                    {
                        "region": row.region,
                        "store": row.store,
                        "opened": opened.scanned_at,
                        "closed": row.scanned_at,
                    }
                )
                opened = None
        if opened is not None:
            episodes.append(
                {
                    "region": opened.region,
                    "store": opened.store,
                    "opened": opened.scanned_at,
                    "closed": pd.NaT,
                }
            )
    return pd.DataFrame(episodes)


@pytest.mark.parametrize("level", [Level.CHAIN, Level.REGION, Level.STORE])
def test_time_to_fix_matches_pandas(chain_url: str, level: Level) -> None:
    episodes = _episodes(_facts(chain_url))
    start = pd.Timestamp(datetime.combine(FROM, datetime.min.time()), tz="UTC")
    end = pd.Timestamp(datetime.combine(TO + timedelta(days=1), datetime.min.time()), tz="UTC")
    fixed = episodes[(episodes.closed >= start) & (episodes.closed < end)].copy()
    fixed["hours"] = (fixed.closed - fixed.opened).dt.total_seconds() / 3600
    open_ = episodes[(episodes.opened < end) & (episodes.closed.isna() | (episodes.closed >= end))]
    key = {Level.CHAIN: None, Level.REGION: "region", Level.STORE: "store"}[level]
    with session_scope(chain_url) as session:
        rows = time_to_fix(session, level, Filters(date_from=FROM, date_to=TO))
    assert rows
    for row in rows:
        mine = fixed if key is None else fixed[fixed[key] == row[key]]
        still = open_ if key is None else open_[open_[key] == row[key]]
        assert row["fixed"] == len(mine)
        assert row["still_open"] == len(still)
        # chain and region read the daily fix histogram: its median and p90 are within a
        # bucket's width (2 %) of the exact ones; store level is exact
        tolerance = (
            {"rel": RELATIVE_ERROR, "abs": ABSOLUTE_ERROR_HOURS}
            if level in (Level.CHAIN, Level.REGION)
            else {}
        )
        assert row["median_hours"] == pytest.approx(mine.hours.quantile(0.5), **tolerance)
        assert row["p90_hours"] == pytest.approx(mine.hours.quantile(0.9), **tolerance)
    assert sum(r["fixed"] for r in rows) == len(fixed) > 0


@pytest.mark.parametrize(("n", "m"), [(2, 3), (3, 4), (1, 1)])
def test_repeat_offenders_match_pandas(chain_url: str, n: int, m: int) -> None:
    verdicts = _verdicts(_facts(chain_url))
    expected = set()
    for (_, facing), rows in verdicts.groupby(["bay_id", "facing_id"]):
        last = rows.tail(m)
        if len(last) == m and last.failing.sum() >= n:
            expected.add((last.store.iloc[0], last.bay.iloc[0], facing))
    with session_scope(chain_url) as session:
        rows = offenders(session, Filters(), n=n, m=m, limit=100_000)
    assert {(r["store"], r["bay"], r["facing_id"]) for r in rows} == expected
    assert expected, "the chain should have repeat offenders"
