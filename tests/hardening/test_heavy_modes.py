"""Heavy work answers alike in worker processes and in threads (SHELFSCAN_HEAVY_MODE), and in
process mode a request over its budget really stops its worker, and a dead worker is replaced
(issue 19, case 4)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest
from fastapi.testclient import TestClient

from shelfscan.api import heavy_tasks
from shelfscan.api.app import create_app
from shelfscan.api.heavy import HeavyWork
from shelfscan.planogram.errors import PlanogramError
from shelfscan.services.errors import ShelfscanError, Unavailable
from shelfscan.settings import DetectorBackend, Settings
from tests.hardening.big_planograms import overlapping_planogram, valid_planogram
from tests.hardening.conftest import admin_headers

MATCH = "/computervision/planogramcompliance:match?api-version=2023-04-01-preview"
NO_DETECTIONS = {"imageMetadata": {"width": 1000, "height": 600}, "products": []}


@pytest.fixture(params=["process", "thread"])
def client(settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"detector_backend": DetectorBackend.REPLAY, "heavy_mode": request.param}
    )
    app = create_app(configured)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers.update(admin_headers(configured))
        assert app.state.heavy_work.mode == request.param  # started with the app
        yield test_client


def test_import_validate_and_match_answer_alike_in_both_modes(client: TestClient) -> None:
    imported = client.post("/api/v1/planograms", json=valid_planogram(3, 4, "modes"))
    assert imported.status_code == 201, imported.text
    assert imported.json()["positions"] == 12
    stored = client.get("/api/v1/planograms/modes").json()
    assert [p["id"] for p in stored["positions"]][:4] == ["0-0", "0-1", "0-2", "0-3"]

    refused = client.post("/api/v1/planograms:validate", json=overlapping_planogram(300))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_planogram"
    # Located problems, capped at 100 plus one that counts the rest.
    assert len(error["problems"]) == 101
    assert error["problems"][0]["location"].startswith("positions[")
    assert "more problems not listed" in error["problems"][-1]["problem"]

    matched = client.post(
        MATCH, json={"detectedProducts": NO_DETECTIONS, "planogram": valid_planogram(2, 5)}
    )
    assert matched.status_code == 200, matched.text
    assert matched.headers["content-type"].startswith("application/json")
    assert len(matched.json()["matchingResultPerPosition"]) == 10

    bad = client.post(MATCH, json={"detectedProducts": NO_DETECTIONS})
    assert bad.status_code == 400
    assert bad.headers["x-ms-error-code"] == "InvalidRequest"
    assert bad.json()["error"]["target"] == "planogram"

    overlapping = client.post(
        MATCH, json={"detectedProducts": NO_DETECTIONS, "planogram": overlapping_planogram(50)}
    )
    assert overlapping.status_code == 400
    assert overlapping.json()["error"]["innererror"]["code"] == "InvalidPlanogram"
    assert overlapping.json()["error"]["target"].startswith("planogram.positions")


def test_refusals_cross_the_process_boundary_as_they_were() -> None:
    too_large = heavy_tasks.call(heavy_tasks.match_body, (b"[1]", heavy_tasks.DEFAULT_LIMITS), {})
    with pytest.raises(ShelfscanError) as raised:
        heavy_tasks.raise_for(too_large)
    assert raised.value.http_status == 400
    assert raised.value.field is None and "JSON object" in raised.value.message

    invalid = heavy_tasks.call(
        heavy_tasks.read_planogram,
        (b'{"id": "x"}',),
        {
            "format": None,
            "filename": None,
            "planogram_id": None,
            "limits": heavy_tasks.DEFAULT_LIMITS,
            "want_document": False,
        },
    )
    with pytest.raises(PlanogramError) as problems:
        heavy_tasks.raise_for(invalid)
    assert problems.value.problems and all(p.location for p in problems.value.problems)


def _spin(seconds: float) -> int:
    """A task that keeps its worker busy (module level: a worker process imports it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return os.getpid()


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_over_budget_work_is_stopped_and_a_dead_worker_replaced() -> None:
    async def scenario() -> None:
        pool = HeavyWork(workers=1, queued=0, budget_s=120.0, mode="process")
        try:
            first = await pool.run("warming", _spin, 0.0)  # the worker is up
            pool.budget_s = 0.5
            assert pool.worker_pids() == [first]
            with pytest.raises(Unavailable) as over:
                await pool.run("spinning", _spin, 60.0)
            assert over.value.code == "time_budget_exceeded"
            assert _gone(first), "the worker over budget was not stopped"
            pool.budget_s = 60.0
            second = await pool.run("spinning briefly", _spin, 0.0)
            assert second != first  # a new process answers

            # Dies during a request, as if killed for memory: 503, and a new process next time.
            running = asyncio.ensure_future(pool.run("spinning", _spin, 30.0))
            await asyncio.sleep(0.5)
            os.kill(second, signal.SIGKILL)
            with pytest.raises(Unavailable) as lost:
                await running
            assert lost.value.code == "worker_lost"
            third = await pool.run("spinning briefly", _spin, 0.0)
            assert third not in (first, second)
        finally:
            pool.shutdown()

    asyncio.run(scenario())


def test_a_worker_outlives_an_interrupt_to_the_process_group() -> None:
    """Ctrl-C in the terminal running the server reaches its workers too; the server stops
    them itself. A worker that died of it printed a traceback and lost its request."""

    async def scenario() -> None:
        pool = HeavyWork(workers=1, queued=0, budget_s=60.0, mode="process")
        try:
            worker = await pool.run("warming", _spin, 0.0)
            running = asyncio.ensure_future(pool.run("spinning", _spin, 1.0))
            await asyncio.sleep(0.3)
            os.kill(worker, signal.SIGINT)
            assert await running == worker  # the request in progress still answers
            assert pool.worker_pids() == [worker]
        finally:
            pool.shutdown()

    asyncio.run(scenario())


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="process"):
        HeavyWork(workers=1, queued=0, budget_s=1.0, mode="fibers")


def test_readyz_says_loading_while_heavy_work_processes_start(settings: Settings) -> None:
    """Ready only once the server's own worker processes have started: their interpreters and
    imports run on the same cores as the first requests a load balancer would send."""
    configured = settings.model_copy(
        update={"detector_backend": DetectorBackend.REPLAY, "heavy_mode": "process"}
    )
    app = create_app(configured)
    with TestClient(app) as client:
        pool = app.state.heavy_work

        class Starting:
            def starting(self) -> int:
                return 2

        app.state.heavy_work = Starting()
        loading = client.get("/readyz")
        app.state.heavy_work = pool
        deadline = time.monotonic() + 120
        while pool.starting() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool.starting() == 0, "the heavy-work processes never finished starting"
        ready = client.get("/readyz")
    assert loading.status_code == 503
    assert loading.json()["status"] == "loading"
    assert loading.json()["checks"]["heavy_work"] == {
        "ok": False,
        "detail": "2 heavy-work process(es) starting",
    }
    assert ready.status_code == 200, ready.text
