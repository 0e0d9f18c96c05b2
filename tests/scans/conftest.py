"""A demo store with one bay and an assigned planogram, and an app with the scans router and
a real in-process worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelfscan.api.errors import install_error_handlers
from shelfscan.db.migrate import upgrade
from shelfscan.db.models import Bay, BayAssignment, Planogram, PlanogramVersion, Store
from shelfscan.db.session import session_scope
from shelfscan.jobs import start_background_worker, stop_background_worker
from shelfscan.settings import Settings
from tests.scans.standin import StandInAnalyzer

STORE = "S001"
BAY = "A01"

PLANOGRAM: dict[str, Any] = {
    "id": "demo-bay-a01",
    "name": "Cereal",
    "unit": "cm",
    "width": 120,
    "height": 90,
    "fixtures": [
        {"id": "top", "x": 0, "y": 0, "w": 120, "h": 45},
        {"id": "bottom", "x": 0, "y": 45, "w": 120, "h": 45},
    ],
    "products": [
        {"id": "p1", "name": "Oats", "w": 20, "h": 40},
        {"id": "p2", "name": "Flakes", "w": 30, "h": 40},
    ],
    "positions": [
        {"id": "1", "product_id": "p1", "fixture_id": "top", "x": 0, "y": 2, "hfacings": 3},
        {"id": "2", "product_id": "p2", "fixture_id": "top", "x": 60, "y": 2, "hfacings": 2},
        {"id": "3", "product_id": "p2", "fixture_id": "bottom", "x": 0, "y": 47, "hfacings": 4},
    ],
}


def seed_store(database_url: str) -> None:
    upgrade(database_url)
    with session_scope(database_url) as session:
        store = Store(code=STORE, name="Demo store", region="North")
        other = Store(code="S002", name="Other store", region="South")
        session.add_all([store, other])
        session.flush()
        bay = Bay(store_id=store.id, code=BAY, name="Cereal bay")
        second = Bay(store_id=store.id, code="A02", name="Second bay")
        unassigned = Bay(store_id=store.id, code="Z99", name="No planogram")
        other_bay = Bay(store_id=other.id, code=BAY, name="Other store's bay")
        planogram = Planogram(key="demo-bay-a01", name="Cereal")
        session.add_all([bay, second, unassigned, other_bay, planogram])
        session.flush()
        version = PlanogramVersion(
            planogram_id=planogram.id, version=1, document=PLANOGRAM, sha256="0" * 64
        )
        session.add(version)
        session.flush()
        for target in (bay, second, other_bay):
            session.add(
                BayAssignment(
                    store_id=target.store_id,
                    bay_id=target.id,
                    planogram_version_id=version.id,
                    effective_from=date.today() - timedelta(days=30),
                )
            )


def test_job_settings(**overrides: Any) -> dict[str, Any]:
    """The background-analysis settings tests run with (quick leases, the stand-in
    analyzer), as updates of the one :class:`Settings`."""
    values: dict[str, Any] = {
        "scan_analyzer": "tests.scans.standin:make_analyzer",
        "scan_lease_s": 2.0,
        "reaper_interval_s": 0.2,
        "requeue_after_s": 30.0,
    }
    values.update(overrides)
    return values


test_job_settings.__test__ = False  # type: ignore[attr-defined]


def make_app(
    settings: Settings,
    jobs: dict[str, Any],
    analyzer: StandInAnalyzer | None = None,
    routers: tuple[Any, ...] = (),
) -> FastAPI:
    from shelfscan.api.routes import scans

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        queue = start_background_worker(app, settings)
        if analyzer is not None:
            queue.context.analyzer = analyzer  # type: ignore[attr-defined]
        yield
        stop_background_worker(app)

    settings = settings.model_copy(update=jobs)
    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.state.settings = settings
    app.include_router(scans.router)
    for router in routers:
        app.include_router(router)
    return app


@pytest.fixture
def scan_settings(tmp_path: Path, database_url: str) -> Settings:
    seed_store(database_url)
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database_url,
        scan_deadline_s=60,
        worker_concurrency=2,
    )


@pytest.fixture
def client_factory(scan_settings: Settings) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(analyzer: StandInAnalyzer | None = None, **job_overrides: Any) -> TestClient:
        app = make_app(scan_settings, test_job_settings(**job_overrides), analyzer)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
