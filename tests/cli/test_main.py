from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from shelfscan.cli.main import app
from shelfscan.db.migrate import current_revision, head_revision

runner = CliRunner()


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        # typer vendors its own click, so duck-type groups rather than isinstance-check them.
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "shelfscan")
def test_every_command_has_useful_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"`shelfscan {' '.join(path)}` has no help text"


def test_expected_commands_are_present() -> None:
    top = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"serve", "db"} <= top


def test_db_upgrade_command_migrates(sqlite_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--database-url", sqlite_url])
    assert result.exit_code == 0, result.output
    assert current_revision(sqlite_url) == head_revision()
    result = runner.invoke(app, ["db", "downgrade", "base", "--database-url", sqlite_url])
    assert result.exit_code == 0 and "base" in result.output
    assert current_revision(sqlite_url) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_health_and_readiness(tmp_path: Path) -> None:
    replay = tmp_path / "replay.json"
    replay.write_text('{"imageMetadata": {"width": 10, "height": 10}, "products": []}')
    port = _free_port()
    env = {
        **os.environ,
        "SHELFSCAN_DATA_DIR": str(tmp_path / "data"),
        "SHELFSCAN_DETECTOR_BACKEND": "replay",
        "SHELFSCAN_REPLAY_PATH": str(replay),
    }
    env.pop("SHELFSCAN_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "shelfscan.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"server did not start:\n{output}")
                time.sleep(0.3)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert health.status_code == 200
    assert ready.status_code == 200, ready.text
    assert (tmp_path / "data" / "shelfscan.db").exists(), "serve did not migrate the database"
