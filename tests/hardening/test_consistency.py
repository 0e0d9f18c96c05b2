"""Read-your-writes and uniqueness races, through a real server on both databases (issue 19,
cases 1 and 2)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.engine import make_url

from shelfscan.planogram.canonical import dump_canonical
from tests.hardening.conftest import LiveServer
from tests.store.test_planogram_store import small_planogram


def test_what_a_201_created_is_always_found(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.post("/api/v1/stores", json={"code": "S1", "name": "One"}).status_code == 201
        published = client.post("/api/v1/planograms", content=dump_canonical(small_planogram()))
        assert published.status_code == 201, published.text
        misses = []
        for index in range(200):
            code = f"B{index}"
            created = client.post("/api/v1/stores/S1/bays", json={"code": code})
            assert created.status_code == 201, created.text
            read = client.get(f"/api/v1/stores/S1/bays/{code}")
            if read.status_code != 200:
                misses.append((code, read.status_code))
            if index % 20 == 0:  # an assignment to the bay just created, and read back
                assigned = client.post(
                    f"/api/v1/stores/S1/bays/{code}/assignments",
                    json={"planogram": "cereal-1", "effective_from": "2020-01-01"},
                )
                if assigned.status_code != 201:
                    misses.append((f"{code} assignment", assigned.status_code))
                on = client.get(f"/api/v1/stores/S1/bays/{code}/planogram?on=2021-01-01")
                if on.status_code != 200 or on.json() is None:
                    misses.append((f"{code} planogram", on.status_code))
    assert misses == []


def _race(live_server: LiveServer, send: Callable[[httpx.Client], httpx.Response]) -> Counter:
    """Ten clients send at the same instant; the statuses they get."""
    barrier = threading.Barrier(10)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with live_server.client() as client:
            client.get("/healthz")  # connected before the start line
            barrier.wait()
            answer = send(client)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 10
    for answer in answers:
        if answer.status_code == 409:
            error = answer.json()["error"]
            assert error["code"] == "conflict" and error["message"]
    return Counter(answer.status_code for answer in answers)


def test_concurrent_creates_of_one_store_are_201_or_409(live_server: LiveServer) -> None:
    statuses = _race(
        live_server, lambda c: c.post("/api/v1/stores", json={"code": "RACE", "name": "R"})
    )
    assert statuses == Counter({201: 1, 409: 9})


def test_concurrent_creates_of_one_bay_are_201_or_409(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.post("/api/v1/stores", json={"code": "S1", "name": "One"}).raise_for_status()
    statuses = _race(live_server, lambda c: c.post("/api/v1/stores/S1/bays", json={"code": "B"}))
    assert statuses == Counter({201: 1, 409: 9})


def test_concurrent_publishes_are_201_or_409(live_server: LiveServer) -> None:
    counter = iter(range(10))
    lock = threading.Lock()

    def publish(client: httpx.Client) -> httpx.Response:
        with lock:
            facings = next(counter) % 3 + 1
        return client.post(
            "/api/v1/planograms", content=dump_canonical(small_planogram(cola_facings=facings))
        )

    statuses = _race(live_server, publish)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1
    with live_server.client() as client:
        versions = client.get("/api/v1/planograms/cereal-1/versions").json()
    assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))


def test_concurrent_assignments_never_overlap(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.post("/api/v1/stores", json={"code": "S1", "name": "One"}).raise_for_status()
        client.post("/api/v1/stores/S1/bays", json={"code": "B"}).raise_for_status()
        client.post(
            "/api/v1/planograms", content=dump_canonical(small_planogram())
        ).raise_for_status()
    statuses = _race(
        live_server,
        lambda c: c.post(
            "/api/v1/stores/S1/bays/B/assignments",
            json={"planogram": "cereal-1", "effective_from": "2030-01-01"},
        ),
    )
    assert statuses == Counter({201: 1, 409: 9})


def test_a_publish_waiting_for_the_database_leaves_the_event_loop_free(
    live_server: LiveServer,
) -> None:
    """On SQLite a second identical publish writes only its audit row; that write waits for
    the database's write lock. It must wait in a worker thread: waiting on the event loop
    would stall every request, including the commit of the one holding the lock (a CI run
    timed out this way)."""
    url = live_server.settings.resolved_database_url
    if not url.startswith("sqlite"):
        pytest.skip("the lock is SQLite's")
    document = dump_canonical(small_planogram())
    with live_server.client() as client:
        assert client.post("/api/v1/planograms", content=document).status_code == 201
    holder = sqlite3.connect(make_url(url).database, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as another request's open transaction
    answers: list[httpx.Response] = []

    def publish_again() -> None:
        with live_server.client() as client:
            answers.append(client.post("/api/v1/planograms", content=document))

    publisher = threading.Thread(target=publish_again)
    publisher.start()
    try:
        time.sleep(0.5)  # the publish reaches its write and waits for the lock
        with live_server.client(timeout=5) as client:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            assert time.monotonic() - started < 2
    finally:
        holder.rollback()
        holder.close()
    publisher.join(timeout=30)
    assert [answer.status_code for answer in answers] == [201]
    assert answers[0].json()["version"] == 1  # the same document: the same version
