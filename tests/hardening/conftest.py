"""A real server on loopback for the hardening tests: uvicorn in a thread, the app as
``shelfscan serve`` builds it, on the test's database (SQLite, or PostgreSQL when reachable).

The ASGI test transports run a request to completion before the client sees the answer, so
they cannot show what a real client sees between the response and the end of the request
(the read-after-write race); a real server can."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from shelfscan.api.app import create_app
from shelfscan.settings import DetectorBackend, Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin_headers(settings: Settings) -> dict[str, str]:
    """Credentials of a chain-wide admin API key when the app requires authentication (the
    access-control work, issue 14), else none."""
    try:
        from shelfscan.auth.roles import Grant, Role, ScopeKind
        from shelfscan.auth.service import create_api_key
    except ImportError:
        return {}
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope

    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        _, secret = create_api_key(
            session, "hardening tests", Grant(Role.ADMIN, ScopeKind.CHAIN), actor="tests"
        )
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    headers: dict[str, str]

    def client(self, **options: object) -> httpx.Client:
        options = {"timeout": 60, **options}
        return httpx.Client(base_url=self.base_url, headers=self.headers, **options)  # type: ignore[arg-type]


def serve_in_thread(settings: Settings) -> Iterator[LiveServer]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, admin_headers(settings))
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_settings(settings: Settings, database_url: str) -> Settings:
    return settings.model_copy(
        update={"database_url": database_url, "detector_backend": DetectorBackend.REPLAY}
    )


@pytest.fixture
def live_server(live_settings: Settings) -> Iterator[LiveServer]:
    yield from serve_in_thread(live_settings)
