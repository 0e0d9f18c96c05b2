"""Shared fixtures: isolated settings, a SQLite database per test and, where the server is
reachable, a throw-away PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
# Apps built by tests do not load the YOLO model in the background (tests that check the
# background load turn it on); two cores are shared by the whole suite.
os.environ.setdefault("SHELFSCAN_LOAD_MODEL_ON_START", "false")
# Nor run the scheduled-audit ticker thread (tests tick with an explicit time).
os.environ.setdefault("SHELFSCAN_AUDIT_SCHEDULER", "false")
# Nor start heavy-work processes (two interpreters per app); tests/hardening runs both modes.
os.environ.setdefault("SHELFSCAN_HEAVY_MODE", "thread")
# Nor an analysis process per app (tests swap the analyzer in); tests/scans runs both modes.
os.environ.setdefault("SHELFSCAN_WORKER_MODE", "thread")
# Nor fill 64 spare files of 4 MiB in each test's storage folder; tests/scans/test_storage.py
# writes photos through spare files.
os.environ.setdefault("SHELFSCAN_STORAGE_SPARE_FILES", "0")

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shelfscan.settings import AZURE_SAMPLE_DIR, Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "SHELFSCAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
AZURE_SAMPLE = AZURE_SAMPLE_DIR


@pytest.fixture(scope="session", autouse=True)
def _ultralytics_tamed() -> None:
    """Test helpers import ultralytics directly, which patches PIL.Image.open process-wide;
    shelfscan undoes that wherever it loads ultralytics, so the tests run the same way."""
    from shelfscan.offline import import_ultralytics

    import_ultralytics()


def _postgres_unavailable_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    reason = _postgres_unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test against PostgreSQL: {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the real server, dropped afterwards."""
    name = f"shelfscan_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from shelfscan.db.session import engine_for

        engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'shelfscan.db').as_posix()}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both supported databases, so every storage test runs on each."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        log_json=True,
    )


@pytest.fixture
def azure_sample() -> Path:
    if not (AZURE_SAMPLE / "sample_planogram.json").exists():
        pytest.skip(f"Azure sample data not found at {AZURE_SAMPLE}")
    return AZURE_SAMPLE


# --- credentials ---------------------------------------------------------------------------------
# A fresh install answers 401 to anonymous requests. Tests written before access control call
# routes through ``TestClient`` without credentials; by default every TestClient sends this
# chain-wide admin API key, whose row is created (with its real hash) in the app's database the
# first time it is presented, so the real key look-up runs. Access-control tests opt out with
# ``@pytest.mark.no_default_credentials`` (tests/auth/ does for the whole folder).
TEST_ADMIN_KEY = "ssk_testadmn_" + "T" * 43


@pytest.fixture(autouse=True)
def _default_credentials(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("no_default_credentials"):
        return
    from fastapi.testclient import TestClient

    from shelfscan.auth import service

    original_init = TestClient.__init__
    original_resolve = service.resolve_bearer_secret

    def init_with_key(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        self.headers.setdefault("Authorization", f"Bearer {TEST_ADMIN_KEY}")

    def resolve(session, token):  # type: ignore[no-untyped-def]
        if token == TEST_ADMIN_KEY:
            _ensure_test_admin_key(session)
        return original_resolve(session, token)

    monkeypatch.setattr(TestClient, "__init__", init_with_key)
    monkeypatch.setattr(service, "resolve_bearer_secret", resolve)


def _ensure_test_admin_key(session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from shelfscan.auth import tokens
    from shelfscan.auth.models import ApiKey

    prefix = TEST_ADMIN_KEY.split("_")[1]
    if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
        session.add(
            ApiKey(
                name="tests' default admin key",
                prefix=prefix,
                key_hash=tokens.digest(TEST_ADMIN_KEY),
                role="admin",
                scope_kind="chain",
            )
        )
        session.flush()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "no_default_credentials: TestClient sends no credentials unless told to"
    )


def make_api_key(
    database_url: str, role: str = "admin", store: str | None = None, region: str | None = None
) -> str:
    """A real API key in a (migrated) database, for clients that talk to a running server."""
    from shelfscan.auth import service
    from shelfscan.auth.roles import Role
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope

    upgrade(database_url)
    with session_scope(database_url) as session:
        grant = service.make_grant(session, Role(role), store, region)
        _, secret = service.create_api_key(session, f"test {role}", grant, actor="tests")
    return secret
