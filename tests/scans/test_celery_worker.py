"""The Celery path against the machine's real Redis, with real ``shelfscan worker`` processes:
the same task code as in-process, a worker SIGKILLed mid-scan loses nothing, and the deadline
still turns a stuck scan failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shelfscan.planogram.model import Planogram
from shelfscan.settings import Settings
from tests.scans.conftest import PLANOGRAM, make_app, test_job_settings
from tests.scans.standin import DELAY_ENV, LOG_ENV, expected_facings
from tests.scans.test_scans_api import upload, wait_for

REPO = Path(__file__).resolve().parents[2]
REDIS_HOST = os.environ.get("SHELFSCAN_TEST_REDIS", "127.0.0.1:6379")
REDIS_DB = int(os.environ.get("SHELFSCAN_TEST_REDIS_DB", "13"))


@pytest.fixture(scope="module")
def redis_base() -> str:
    import redis

    url = f"redis://{REDIS_HOST}/{REDIS_DB}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:
        message = f"Redis not reachable at {url}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def queue_name(redis_base: str) -> Iterator[str]:
    import redis

    name = f"shelfscan-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_base)
    client.delete(name, f"_kombu.binding.{name}")


@pytest.fixture
def celery_settings(scan_settings: Settings, redis_base: str) -> Settings:
    return scan_settings.model_copy(update={"broker_url": redis_base})


class Workers:
    """``python -m shelfscan.cli.worker`` processes, each in its own process group."""

    def __init__(self, settings: Settings, queue: str, log_path: Path, tmp: Path) -> None:
        self.settings, self.queue, self.log_path, self.tmp = settings, queue, log_path, tmp
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, delay_s: float = 0.0, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "SHELFSCAN_BROKER_URL": self.settings.broker_url or "",
            "SHELFSCAN_DATABASE_URL": self.settings.resolved_database_url,
            "SHELFSCAN_DATA_DIR": str(self.settings.data_dir),
            "SHELFSCAN_SCAN_QUEUE": self.queue,
            "SHELFSCAN_SCAN_ANALYZER": "tests.scans.standin:make_analyzer",
            "SHELFSCAN_SCAN_LEASE_S": "2",
            "SHELFSCAN_REAPER_INTERVAL_S": "0.5",
            "SHELFSCAN_SCAN_DEADLINE_S": str(self.settings.scan_deadline_s),
            "SHELFSCAN_BROKER_VISIBILITY_TIMEOUT_S": "30",
            DELAY_ENV: str(delay_s),
            LOG_ENV: str(self.log_path),
            **extra_env,
        }
        index = len(self.processes)
        log = (self.tmp / f"worker-{index}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "shelfscan.cli.worker", "--concurrency", "1"],
            cwd=self.tmp,  # no stray .env from the checkout
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its pool children, no goodbye
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        logs = sorted(self.tmp.glob("worker-*.log"))
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in logs)


@pytest.fixture
def workers(celery_settings: Settings, queue_name: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(celery_settings, queue_name, tmp_path / "analyses.log", tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def celery_client(
    celery_settings: Settings, queue_name: str
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        settings = celery_settings.model_copy(update=overrides)
        app = make_app(settings, test_job_settings(scan_queue=queue_name, reaper_interval_s=0.5))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _analyses(workers: Workers) -> int:
    return len(workers.log_path.read_text().splitlines()) if workers.log_path.exists() else 0


def test_scan_is_analysed_by_a_celery_worker(celery_client, workers: Workers) -> None:
    client = celery_client()
    from shelfscan.jobs.celery_app import CeleryQueue

    assert isinstance(client.app.state.scan_queue, CeleryQueue)
    workers.start()
    accepted = upload(client, key="celery-1").json()
    try:
        done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
    except AssertionError:
        raise AssertionError(workers.logs()) from None
    assert done["status"] == "done", done["error"]
    assert done["attempts"] == 1
    assert done["report"]["facings"] == expected_facings(
        Planogram.model_validate(PLANOGRAM), 800, 600
    )
    assert client.get(done["annotated_url"]).status_code == 200
    assert _analyses(workers) == 1


def test_worker_killed_mid_scan_loses_nothing(celery_client, workers: Workers) -> None:
    client = celery_client()
    doomed = workers.start(delay_s=30.0)
    accepted = upload(client, key="kill-me").json()
    deadline = time.monotonic() + 60
    while _analyses(workers) < 1 or client.get(accepted["url"]).json()["status"] != "processing":
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.1)
    workers.kill(doomed)
    assert client.get(accepted["url"]).json()["status"] == "processing"

    workers.start(delay_s=0.0)
    try:
        done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
    except AssertionError:
        raise AssertionError(workers.logs()) from None
    assert done["status"] == "done", done["error"]
    assert done["attempts"] == 2  # the killed attempt, then the one that finished
    assert _analyses(workers) == 2
    listing = client.get("/api/v1/stores/S001/scans").json()
    assert listing["total"] == 1  # retried, not duplicated


def test_deadline_fails_a_scan_no_worker_finishes(celery_client, workers: Workers) -> None:
    client = celery_client(scan_deadline_s=1.5)
    workers.settings = workers.settings.model_copy(update={"scan_deadline_s": 1.5})
    workers.start(delay_s=20.0)
    accepted = upload(client).json()
    failed = wait_for(client, accepted["url"], {"failed", "done"}, timeout=30)
    assert failed["status"] == "failed"
    assert "deadline exceeded" in failed["error"]


def test_worker_command_refuses_to_start_without_a_broker(monkeypatch) -> None:
    from shelfscan.cli.worker import app
    from shelfscan.settings import get_settings

    monkeypatch.delenv("SHELFSCAN_BROKER_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, [])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "SHELFSCAN_BROKER_URL" in result.output
