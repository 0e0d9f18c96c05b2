"""Chromium for the browser tests: Debian's package, installed on demand (CI starts bare)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = Path(os.environ.get("SHELFSCAN_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _install_chromium() -> str | None:
    """Try ``apt-get install -y chromium``; the reason it failed, or None."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get not available"
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in ([*prefix, apt, "update"], [*prefix, apt, "install", "-y", "chromium"]):
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)}: {error}"
        if completed.returncode != 0:
            return f"{' '.join(command)} exited {completed.returncode}: {completed.stderr[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        reason = _install_chromium()
        if not CHROMIUM.exists():
            message = f"Chromium not found at {CHROMIUM} and could not be installed: {reason}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: Any, lifespan: str = "on") -> Iterator[str]:
    """Run ``app`` with uvicorn on a free local port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def api_headers() -> dict[str, str]:
    """Credentials for the browser context and httpx: the suite's admin API key when the app
    has access control (tests/conftest.py resolves it), nothing otherwise. A stand-in until
    the page's own login step is exercised here."""
    from tests import conftest as suite

    key = getattr(suite, "TEST_ADMIN_KEY", None)
    return {"Authorization": f"Bearer {key}"} if key else {}


def wait_in_page(page: Any, expression: str, timeout_s: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page. Evaluated from the test (the DevTools
    protocol), not by Playwright's polling inside the page (``wait_for_function``), which
    evaluates the expression with ``eval`` there: the pages' CSP (no eval) refuses that, so
    such a wait fails whenever the condition is not already true on its first check."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.1)
