from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database or ":memory:"
        in_memory = database == ":memory:"
        if not in_memory:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # The pool is as large as the request thread pool (anyio's 40): with the default 5 + 10
        # overflow, a burst of uploads opened and closed a connection (and its four PRAGMAs)
        # per request. An idle SQLite connection costs a file handle and a small page cache.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({} if in_memory else {"pool_size": 20, "max_overflow": 20}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the web process read while a worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL still survives a process crash; only a power cut can lose the
            # last commits, and it saves an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # Up to 40 request threads (anyio's default limit) may each hold a connection; keeping 20
    # open means a burst of uploads does not pay for a PostgreSQL backend fork per request.
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory(url: str) -> sessionmaker[Session]:
    return _session_factory(engine_for(url))


@lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    # One per engine: every sessionmaker makes its own Session subclass, whose first session
    # sets up SQLAlchemy's event dispatch for that class (≈ 0.3 ms of CPU); a sessionmaker
    # per session_scope paid it on every session, four times per upload.
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
