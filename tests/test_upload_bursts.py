"""Bursts of uploads: the embedded database keeps its connections (no SQLite connection and
its PRAGMAs opened per request), and a web process accepts only a few uploads at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text

from shelfscan.db.session import make_engine


def test_a_burst_of_sqlite_sessions_reuses_its_connections(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    burst = 16  # more than SQLAlchemy's default pool of 5 + 10 overflow
    all_in = threading.Barrier(burst)

    def request() -> None:
        with engine.connect() as connection:
            all_in.wait(timeout=10)  # every connection is checked out at the same time
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"

    for _ in range(3):
        threads = [threading.Thread(target=request) for _ in range(burst)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(opened) == burst  # the first burst opened them; the next two reused them
    engine.dispose()


def test_an_in_memory_sqlite_database_keeps_its_single_connection() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (id INTEGER)"))
    with engine.connect() as connection:  # the same database: it lives in that connection
        assert connection.execute(text("SELECT count(*) FROM kept")).scalar() == 0


def test_uploads_are_accepted_a_few_at_a_time(tmp_path: Path) -> None:
    """SHELFSCAN_UPLOAD_ACCEPT_SLOTS: however many uploads arrive, at most that many are
    accepted at once; the others wait their turn on the event loop and are all accepted."""
    import asyncio
    from types import SimpleNamespace

    from shelfscan.api.routes.scans import accept_in_turn
    from shelfscan.settings import Settings

    settings = Settings(
        _env_file=None, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 's.db'}",
        upload_accept_slots=2,
    )  # fmt: skip
    state = SimpleNamespace(settings=settings)
    request = SimpleNamespace(app=SimpleNamespace(state=state))
    lock = threading.Lock()
    running: list[int] = [0]
    most: list[int] = [0]

    def work(index: int):  # type: ignore[no-untyped-def]
        def accept(_session: object) -> int:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            threading.Event().wait(0.05)  # storing a photo, the database insert
            with lock:
                running[0] -= 1
            return index

        return accept

    async def burst() -> list[int]:
        return list(
            await asyncio.gather(*(accept_in_turn(request, work(i)) for i in range(8)))  # type: ignore[arg-type]
        )

    assert asyncio.run(burst()) == list(range(8))
    assert most[0] == 2
    assert asyncio.run(burst()) == list(range(8))  # another event loop, its own slots
    assert most[0] == 2


def test_the_upload_gate_holds_scans_while_uploads_arrive() -> None:
    """shelfscan.jobs.gate: a scan about to start waits while an upload is being received,
    and no longer than its limit."""
    from shelfscan.jobs.gate import UploadGate

    gate = UploadGate(max_wait_s=2.0)
    assert gate.wait_for_uploads() < 0.05  # nothing arriving: no wait
    done = threading.Event()

    def one_upload(seconds: float) -> None:
        with gate.upload():
            done.wait(seconds)

    uploading = threading.Thread(target=one_upload, args=(0.3,))
    uploading.start()
    while gate.receiving == 0:
        pass
    waited = gate.wait_for_uploads()
    uploading.join()
    assert 0.15 < waited < 1.5  # until the upload was in
    assert gate.receiving == 0

    short = UploadGate(max_wait_s=0.2)
    endless = threading.Thread(target=lambda: _hold(short, done))
    endless.start()
    while short.receiving == 0:
        pass
    assert 0.15 < short.wait_for_uploads() < 1.0  # uploads that never stop: the limit
    assert UploadGate(max_wait_s=0.0).wait_for_uploads() == 0.0
    done.set()
    endless.join()


def _hold(gate, until: threading.Event) -> None:  # type: ignore[no-untyped-def]
    with gate.upload():
        until.wait(10)
