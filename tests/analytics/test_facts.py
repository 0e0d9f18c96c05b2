"""Facts written when a scan finishes: the rows, idempotency, inconclusive scans, and the
incremental upkeep of rollups, facing states and episodes equal to a rebuild from the facts."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shelfscan.analytics import facts as analytics_facts
from shelfscan.analytics.models import (
    DailyBay,
    DailyProduct,
    DailyStore,
    FacingState,
    FactFacing,
    FactScan,
    ProblemEpisode,
)
from shelfscan.analytics.synth_chain import (
    ChainSpec,
    _ensure_places,
    catalogue,
    generate,
)
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.services import scans
from shelfscan.storage import LocalStorage
from tests.analytics.conftest import SMALL_CHAIN
from tests.scans.conftest import BAY, STORE, seed_store
from tests.scans.photos import encode, shelf_scene


def _report(statuses: list[str], *, conclusive: bool = True) -> dict[str, Any]:
    facings = [
        {
            "facing_id": f"F{i}",
            "product_id": "P1" if i % 2 else "P2",
            "product_name": "Product",
            "fixture_id": "shelf-1",
            "status": status,
            "reason": status,
            "found_product_id": None if status == "gap" else "P1",
        }
        for i, status in enumerate(statuses)
    ]
    unexpected = [
        {"product_id": None, "label": "Stranger", "fixture_id": "shelf-1", "reason": "extra"},
        {"product_id": "P1", "label": "P1", "fixture_id": None, "reason": "outside the bay"},
    ]
    report: dict[str, Any] = {"facings": facings, "unexpected": unexpected}
    if not conclusive:
        report["trust"] = {"conclusive": False, "reason": "wrong_bay"}
    return report


@pytest.fixture
def processing_scan(database_url: str, tmp_path: Path) -> str:
    from shelfscan.imaging import precheck_photo

    upgrade(database_url)
    seed_store(database_url)
    photo = precheck_photo(encode(shelf_scene(), "JPEG"), "image/jpeg", field_name="photos[0]")
    with session_scope(database_url) as session:
        target, _ = scans.resolve_target(session, STORE, BAY)
        scan_id = scans.create_scan(session, LocalStorage(tmp_path / "f"), target, [photo]).scan.id
        scans.claim(session, scan_id, "worker", lease_s=60)
    return scan_id


def test_finishing_a_scan_writes_its_facts_once(database_url: str, processing_scan: str) -> None:
    report = _report(["ok", "gap", "misplaced", "not_visible", "ok"])
    with session_scope(database_url) as session:
        assert scans.finish(session, processing_scan, "worker", report)
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(FactFacing).where(FactFacing.scan_id == processing_scan)
        ).all()
        # five planned facings + the unexpected product inside the bay (not the one outside)
        assert sorted(r.status for r in rows) == sorted(
            ["ok", "gap", "misplaced", "not_visible", "ok", "unexpected"]
        )
        assert {r.photo_key for r in rows} != {None}
        assert all(r.region == "North" for r in rows)
        scan_row = session.get(FactScan, processing_scan)
        assert scan_row is not None
        assert (scan_row.visible, scan_row.ok, scan_row.gap, scan_row.unexpected) == (4, 2, 1, 1)
        daily = session.scalars(select(DailyBay)).one()
        assert (daily.scans, daily.visible, daily.ok, daily.unexpected) == (1, 4, 2, 1)
        # Again (a duplicated message, a replay): nothing more.
        assert not analytics_facts.record_scan(session, processing_scan, report)
        assert session.scalar(select(func.count()).select_from(FactFacing)) == len(rows)
        assert session.scalar(select(func.count()).select_from(DailyBay)) == 1
        opened = session.scalars(select(ProblemEpisode)).all()
        assert sorted(e.facing_id for e in opened) == ["F1", "F2"]


def test_a_scan_finished_again_replaces_its_facts(database_url: str, processing_scan: str) -> None:
    # A further photo re-analyses a done scan: its facts must follow the newest report.
    with session_scope(database_url) as session:
        assert scans.finish(session, processing_scan, "worker", _report(["ok", "gap", "gap"]))
    with session_scope(database_url) as session:
        analytics_facts.record_finished_scan(session, processing_scan, _report(["ok", "ok", "gap"]))
    with session_scope(database_url) as session:
        statuses = session.scalars(
            select(FactFacing.status).where(FactFacing.scan_id == processing_scan)
        ).all()
        assert sorted(statuses) == ["gap", "ok", "ok", "unexpected"]
        daily = session.scalars(select(DailyBay)).one()
        assert (daily.scans, daily.ok, daily.gap) == (1, 2, 1)
        # and a re-analysis that ends inconclusive leaves no facts of the old report behind
        analytics_facts.record_finished_scan(
            session, processing_scan, _report(["ok"], conclusive=False)
        )
        assert session.scalar(select(func.count()).select_from(FactFacing)) == 0


def test_inconclusive_scans_write_no_facts(database_url: str, processing_scan: str) -> None:
    with session_scope(database_url) as session:
        assert scans.finish(session, processing_scan, "worker", _report(["ok"], conclusive=False))
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(FactScan)) == 0


def test_rebuild_recomputes_from_reports(database_url: str, processing_scan: str) -> None:
    with session_scope(database_url) as session:
        scans.finish(session, processing_scan, "worker", _report(["ok", "gap"]))
    with session_scope(database_url) as session:
        session.execute(FactFacing.__table__.delete())
        session.execute(FactScan.__table__.delete())
    with session_scope(database_url) as session:
        assert analytics_facts.rebuild(session) == 1
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(FactFacing)) == 3
        assert session.scalar(select(DailyBay.gap)) == 1


def _snapshot(session: Any) -> dict[str, list[tuple]]:
    def rows(model: Any, columns: list[str]) -> list[tuple]:
        table = model.__table__
        return sorted(tuple(row) for row in session.execute(select(*(table.c[c] for c in columns))))

    return {
        "daily_bay": rows(DailyBay, [c.name for c in DailyBay.__table__.c]),
        "daily_product": rows(DailyProduct, [c.name for c in DailyProduct.__table__.c]),
        "daily_store": [
            row
            for row in rows(DailyStore, [c.name for c in DailyStore.__table__.c])
            if row[4] > 0  # scans: a store-day re-aggregated to nothing keeps a row of zeros
        ],
        "states": rows(FacingState, [c.name for c in FacingState.__table__.c]),
        "episodes": rows(
            ProblemEpisode, [c.name for c in ProblemEpisode.__table__.c if c.name != "id"]
        ),
    }


def test_scan_by_scan_upkeep_equals_a_rebuild(sqlite_url: str) -> None:
    """The fast path (one scan at a time, one of them late) and the set-based rebuild agree."""
    upgrade(sqlite_url)
    spec = ChainSpec(stores=2, bays=2, weeks=2, facings=8, end=SMALL_CHAIN.end, seed=3)
    products = catalogue(random.Random(spec.seed))
    infos = {p.key: analytics_facts.ProductInfo(p.name, p.brand, p.category) for p in products}
    with session_scope(sqlite_url) as session:
        places = _ensure_places(session, spec)
        items = list(generate(spec, places, products))
    items[3], items[4] = items[4], items[3]  # a late scan: replays its bay
    timings = []
    with session_scope(sqlite_url) as session:
        analytics_facts.upsert_products(session, infos)
        for place, report in items:
            started = time.perf_counter()
            analytics_facts.write_facts(session, [(place, report)], {})
            timings.append(time.perf_counter() - started)
        incremental = _snapshot(session)
        analytics_facts.refresh_rollups(session)
        analytics_facts.rebuild_history(session)
        rebuilt = _snapshot(session)
    assert incremental["episodes"], "the chain should have problems"
    for name in rebuilt:
        assert incremental[name] == rebuilt[name], name
    assert sorted(timings)[len(timings) // 2] < 0.2  # generous: the benchmark measures
