"""The daily fix histogram behind chain- and region-level time to fix: its rows equal a
recomputation of the problems from the raw facing rows, it follows every written scan (also a
late one that replays a bay's history), and the medians and p90s read from it stay within a
bucket's width of the exact ones."""

from __future__ import annotations

import random
from datetime import UTC, date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from shelfscan.analytics import facts as analytics_facts
from shelfscan.analytics import fix_histogram
from shelfscan.analytics.fix_histogram import (
    ABSOLUTE_ERROR_HOURS,
    OPENED,
    RELATIVE_ERROR,
    Bucket,
    bucket_bounds,
    fix_bucket,
    quantile,
)
from shelfscan.analytics.models import DailyFix, FactScan
from shelfscan.analytics.queries import Filters, Level, time_to_fix
from shelfscan.db.models import Store
from shelfscan.db.session import session_scope

# --- pure: buckets and quantiles ----------------------------------------------------------------


def _histogram(hours: list[float]) -> dict[int, Bucket]:
    out: dict[Any, Bucket] = {}
    for value in hours:
        fix_histogram.add_fixed(out, "r", date(2026, 1, 1), value)
    return {bucket: content for (_, _, bucket), content in out.items()}


def test_every_duration_lies_in_its_bucket() -> None:
    for hours in [0.0, 0.001, 1 / 60, 0.5, 1.0, 23.99, 167.0, 168.0, 2000.0, 9000.0]:
        low, high = bucket_bounds(fix_bucket(hours))
        assert low <= hours < high or (hours == 0.0 and low == 0.0)
        if hours >= 1 / 60:
            assert high / low == pytest.approx(1 + RELATIVE_ERROR)


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_within_a_bucket_of_numpy(seed: int) -> None:
    rng = random.Random(seed)
    hours = [rng.lognormvariate(4, 1.2) for _ in range(rng.randrange(1, 3000))]
    buckets = _histogram(hours)
    for q in (0.5, 0.9):
        exact = float(np.quantile(hours, q))
        assert quantile(buckets, q) == pytest.approx(exact, rel=RELATIVE_ERROR)


def test_equal_durations_and_single_problems_are_exact() -> None:
    weekly = [168.0] * 40 + [336.0] * 7 + [3.25]
    buckets = _histogram(weekly)
    assert quantile(buckets, 0.5) == 168.0
    assert quantile(buckets, 0.9) == pytest.approx(float(np.quantile(weekly, 0.9)), abs=1e-9)
    assert quantile(_histogram([7.77]), 0.9) == pytest.approx(7.77, abs=1e-9)
    assert quantile({}, 0.5) is None


# --- the table ----------------------------------------------------------------------------------


def _table(session: Any) -> dict[tuple[Any, ...], tuple[int, float, float]]:
    return {
        (row.day, row.region, row.bucket): (row.problems, row.hours_sum, row.hours_sq)
        for row in session.execute(select(DailyFix)).scalars()
        if row.problems
    }


def _assert_same(
    got: dict[tuple[Any, ...], tuple[int, float, float]],
    want: dict[tuple[Any, ...], tuple[int, float, float]],
) -> None:
    assert set(got) == set(want)
    for key, (problems, hours_sum, hours_sq) in want.items():
        assert got[key][0] == problems, key
        assert got[key][1] == pytest.approx(hours_sum, rel=1e-9, abs=1e-6), key
        assert got[key][2] == pytest.approx(hours_sq, rel=1e-9, abs=1e-6), key


def _from_facts(url: str) -> dict[tuple[Any, ...], tuple[int, float, float]]:
    """Problems recomputed from the raw facing rows (pandas, the docs' definition), then
    counted per UTC day, region and bucket."""
    from tests.analytics.test_kpi_recomputation import _facts

    facts = _facts(url)
    planned = facts[facts.status.isin(["ok", "gap", "misplaced"])].sort_values(
        ["bay_id", "facing_id", "scanned_at", "scan_id"]
    )
    episodes = []
    for _, rows in planned.groupby(["bay_id", "facing_id"]):
        opened = None
        for row in rows.itertuples():
            failing = row.status in ("gap", "misplaced")
            if failing and opened is None:
                opened = row
            elif not failing and opened is not None:
                hours = (row.scanned_at - opened.scanned_at).total_seconds() / 3600
                episodes.append((opened.region, opened.scanned_at.date(), row.scanned_at.date(),
                                 hours))  # fmt: skip
                opened = None
        if opened is not None:
            episodes.append((opened.region, opened.scanned_at.date(), None, None))
    expected = fix_histogram.contributions(
        (None if pd.isna(r) else r, o, f, h) for r, o, f, h in episodes
    )
    return {key: (v.problems, v.hours_sum, v.hours_sq) for key, v in expected.items() if v.problems}


def test_histogram_equals_recomputation_from_facts(chain_url: str) -> None:
    want = _from_facts(chain_url)
    assert any(bucket == OPENED for _, _, bucket in want)
    assert any(bucket >= 0 for _, _, bucket in want)
    with session_scope(chain_url) as session:
        _assert_same(_table(session), want)


def _report(statuses: list[str]) -> dict[str, Any]:
    return {
        "facings": [
            {"facing_id": f"F{i + 1}", "product_id": f"P{i}", "product_name": f"P{i}",
             "fixture_id": "shelf-1", "status": status, "reason": "test",
             "found_product_id": None if status == "gap" else f"P{i}"}
            for i, status in enumerate(statuses)
        ],
        "unexpected": [],
    }  # fmt: skip


def test_histogram_follows_written_scans_and_late_ones(chain_url: str) -> None:
    with session_scope(chain_url) as session:
        last = session.execute(
            select(FactScan).order_by(FactScan.scanned_at.desc()).limit(1)
        ).scalar_one()
        place = dict(store_id=last.store_id, region=last.region, bay_id=last.bay_id)
        at = last.scanned_at.astimezone(UTC)
    # problems opened, kept, fixed on later days; then a scan older than the bay's newest
    # (replays the bay's history)
    plan = [
        (timedelta(hours=7, minutes=13), ["gap", "misplaced", "ok", "gap"]),
        (timedelta(days=1, hours=3), ["gap", "ok", "ok", "gap"]),
        (timedelta(days=3, minutes=41), ["ok", "ok", "gap", "ok"]),
        (timedelta(hours=2), ["ok", "gap", "gap", "ok"]),
    ]
    for index, (after, statuses) in enumerate(plan):
        scan = analytics_facts.ScanPlace(scan_id=f"fix-{index}", scanned_at=at + after, **place)
        with session_scope(chain_url) as session:
            analytics_facts.write_facts(session, [(scan, _report(statuses))], {})
    with session_scope(chain_url) as session:
        incremental = _table(session)
    _assert_same(incremental, _from_facts(chain_url))
    with session_scope(chain_url) as session:
        analytics_facts.rebuild_fix_histogram(session)
        _assert_same(_table(session), incremental)


@pytest.mark.parametrize("level", [Level.CHAIN, Level.REGION])
def test_time_to_fix_from_histogram_agrees_with_exact(chain_url: str, level: Level) -> None:
    filters = Filters(date_from=date(2026, 11, 9), date_to=date(2026, 11, 29))
    with session_scope(chain_url) as session:
        fast = time_to_fix(session, level, filters)
        # a scope filter sends the query to the problem episodes (exact percentiles)
        exact = time_to_fix(session, level, Filters(**{**filters.__dict__,
                                                       "store_ids": select(Store.id)}))  # fmt: skip
    assert fast and len(fast) == len(exact)
    for mine, theirs in zip(fast, exact, strict=True):
        assert (mine.get("region"), mine["fixed"], mine["still_open"]) == (
            theirs.get("region"), theirs["fixed"], theirs["still_open"],
        )  # fmt: skip
        for name in ("median_hours", "p90_hours"):
            assert mine[name] == pytest.approx(
                theirs[name], rel=RELATIVE_ERROR, abs=ABSOLUTE_ERROR_HOURS
            )
