"""The event loop stays free while heavy work runs, heavy work keeps to its time budget, and
the server bounds request heads (issue 19, cases 4 and 8)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from shelfscan.api.app import create_app
from shelfscan.api.limits import server_options
from shelfscan.settings import Settings
from tests.hardening.big_planograms import valid_planogram
from tests.hardening.conftest import LiveServer, free_port, serve_in_thread


@pytest.fixture
def sqlite_live(live_settings: Settings, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    overrides = getattr(request, "param", {})
    yield from serve_in_thread(live_settings.model_copy(update=overrides))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "sqlite_live", [{"heavy_mode": "process"}, {"heavy_mode": "thread"}], indirect=True
)
def test_healthz_answers_while_a_big_import_runs(sqlite_live: LiveServer) -> None:
    document = valid_planogram(shelves=100, per_shelf=100)  # 10,000 positions
    outcome: dict[str, int] = {}

    # A warm server: every heavy-work worker has started (in process mode, two interpreters
    # starting on a loaded two-core machine take the CPU from the server for a moment).
    def warm_up() -> None:
        with sqlite_live.client() as client:
            client.post("/api/v1/planograms:validate", json=valid_planogram(1, 2))

    warm_ups = [threading.Thread(target=warm_up) for _ in range(sqlite_live.settings.heavy_workers)]
    for thread in warm_ups:
        thread.start()
    for thread in warm_ups:
        thread.join()

    def heavy() -> None:
        with sqlite_live.client() as client:
            outcome["status"] = client.post("/api/v1/planograms", json=document).status_code

    worker = threading.Thread(target=heavy)
    worker.start()
    worst = 0.0
    with sqlite_live.client() as client:
        while worker.is_alive():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            worst = max(worst, time.perf_counter() - started)
            time.sleep(0.02)
    worker.join()
    assert outcome["status"] == 201
    # The goal is 100 ms (measured 20-40 ms here); generous for a shared, loaded test machine.
    # With the import in a thread of the server (not the default), the probe shares the GIL
    # with the import's JSON parsing and validation, and a noisy spell on the two-core CI
    # machine once stretched one probe to 1.09 s: the bound there is 2 s.
    limit = 1.0 if sqlite_live.settings.heavy_mode == "process" else 2.0
    assert worst < limit, f"/healthz took {worst:.3f} s while an import ran"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "sqlite_live",
    [
        {"request_time_budget_s": 0.05, "heavy_mode": "process"},
        {"request_time_budget_s": 0.05, "heavy_mode": "thread"},
    ],
    indirect=True,
)
def test_heavy_work_over_its_budget_is_503(sqlite_live: LiveServer) -> None:
    with sqlite_live.client() as client:
        answer = client.post(
            "/api/v1/planograms:validate", json=valid_planogram(shelves=100, per_shelf=100)
        )
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "time_budget_exceeded"
        assert "SHELFSCAN_REQUEST_TIME_BUDGET_S" in error["message"]
        assert client.get("/healthz").status_code == 200


def test_the_server_refuses_huge_request_heads(settings: Settings) -> None:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                + b"a" * (settings.http_max_header_bytes * 4)
                + b"\r\n\r\n"
            )
            answer = connection.recv(1024)
        assert answer.startswith(b"HTTP/1.1 4"), answer[:80]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("sqlite_live", [{"heavy_mode": "process"}], indirect=True)
def test_an_import_builds_no_planogram_in_the_server_process(
    sqlite_live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process mode the worker validates, dumps, hashes and encodes the planogram; the
    server only stores it. Building or dumping it here holds the GIL (a 20,000-position import
    kept /healthz waiting up to a second), so any such call in this process fails the import."""
    from shelfscan.planogram import publication
    from shelfscan.planogram.model import Planogram

    built_here: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def spy(*_: Any, **__: Any) -> Any:
            built_here.append(name)
            raise AssertionError(f"{name} ran in the server process")

        return spy

    monkeypatch.setattr(Planogram, "model_validate", classmethod(refuse("model_validate")))
    monkeypatch.setattr(Planogram, "model_dump", refuse("model_dump"))
    monkeypatch.setattr(publication, "prepare_publication", refuse("prepare_publication"))
    document = valid_planogram(shelves=3, per_shelf=4, planogram_id="no-rebuild")
    with sqlite_live.client() as client:
        first = client.post("/api/v1/planograms", json=document)
        again = client.post("/api/v1/planograms", json=document)
    assert built_here == []
    assert first.status_code == again.status_code == 201, first.text
    assert (first.json()["positions"], first.json()["fixtures"]) == (12, 3)
    assert first.json()["version"] == again.json()["version"] == 1
    assert again.json()["sha256"] == first.json()["sha256"]
