"""The embedded database keeps its connections: a burst of requests does not open and close a
SQLite connection (and run its PRAGMAs) per request."""

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
