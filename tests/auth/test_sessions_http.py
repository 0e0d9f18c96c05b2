"""Password sessions over HTTP: cookies, CSRF on unsafe methods, logout, throttling (429)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.auth import service
from shelfscan.auth.roles import Role
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.services.stores import create_store
from shelfscan.settings import Settings
from tests.auth.conftest import PASSWORD


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        create_store(session, "S001", "Main", "north")
        grant = service.make_grant(session, Role.STORE_MANAGER, "S001", None)
        service.add_user(session, "mia", PASSWORD, grant, actor="tests")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        cookie_secure=False,  # the test client speaks http
        login_max_failures_per_account=2,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_login_sets_httponly_strict_cookies_and_csrf_guards_unsafe_requests(
    client: TestClient,
) -> None:
    answer = client.post("/api/v1/auth/login", json={"username": "mia", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("shelfscan_session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    csrf = answer.json()["csrf_token"]
    assert client.cookies.get("shelfscan_csrf") == csrf
    assert client.get("/api/v1/stores").json()[0]["code"] == "S001"
    bay = {"code": "A01"}
    assert client.post("/api/v1/stores/S001/bays", json=bay).status_code == 403
    forged = client.post(
        "/api/v1/stores/S001/bays",
        json=bay,
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example.com"},
    )
    assert forged.status_code == 403
    made = client.post("/api/v1/stores/S001/bays", json=bay, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/stores").status_code == 401


def test_repeated_failures_answer_429_with_retry_after(client: TestClient) -> None:
    for _ in range(2):
        wrong = client.post("/api/v1/auth/login", json={"username": "mia", "password": "x" * 12})
        assert wrong.status_code == 401
    locked = client.post("/api/v1/auth/login", json={"username": "mia", "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
