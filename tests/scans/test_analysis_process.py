"""The default one-machine runner: scans analysed in a child process of the server, which is
replaced, with nothing lost, when it dies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from shelfscan.jobs import process as process_module
from shelfscan.jobs.process import ProcessQueue
from shelfscan.settings import DetectorBackend
from tests.scans.standin import DELAY_ENV, LOG_ENV
from tests.scans.test_scans_api import upload, wait_for


def _analyses(log: Path) -> list[int]:
    """The process id of every analysis the stand-in analyzer ran, in order."""
    if not log.exists():
        return []
    return [int(line.split()[0]) for line in log.read_text().splitlines() if line.strip()]


def _wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_scans_are_analysed_in_a_child_process(client_factory, tmp_path, monkeypatch) -> None:
    log = tmp_path / "analyses.log"
    monkeypatch.setenv(LOG_ENV, str(log))  # the spawned child inherits the environment
    client = client_factory(worker_mode="process")
    queue = client.app.state.scan_queue
    assert isinstance(queue, ProcessQueue)

    first = upload(client, key="first").json()
    second = upload(client, key="second").json()
    for accepted in (first, second):
        done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
        assert done["status"] == "done", done

    pids = _analyses(log)
    assert len(pids) == 2
    assert set(pids) == {queue.pid()}
    assert queue.pid() != os.getpid()


def test_a_killed_analysis_process_is_replaced_and_its_scan_finishes(
    client_factory, tmp_path, monkeypatch
) -> None:
    log = tmp_path / "analyses.log"
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv(DELAY_ENV, "30")  # the first attempt is still running when it is killed
    client = client_factory(worker_mode="process", scan_lease_s=1.0, scan_max_attempts=3)
    queue = client.app.state.scan_queue
    accepted = upload(client, key="killed").json()
    _wait_until(lambda: len(_analyses(log)) == 1)
    victim = queue.pid()
    assert _analyses(log) == [victim]

    monkeypatch.setenv(DELAY_ENV, "0")  # the replacement is spawned with this environment
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: queue.restarts == 1 and queue.pid() != victim)

    done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
    assert done["status"] == "done", done
    pids = _analyses(log)
    assert pids[0] == victim and pids[-1] == queue.pid() != victim


def test_readiness_follows_the_child_s_model_load(scan_settings) -> None:
    """``/readyz``'s source: loading until the child reports, then what the child found."""
    settings = scan_settings.model_copy(
        update={"detector_backend": DetectorBackend.REPLAY, "replay_path": None}
    )
    queue = ProcessQueue(settings, load_model=True)
    queue.start()
    try:
        assert queue.model is not None
        _wait_until(lambda: queue.model.state.value != "loading", timeout=60)
        assert queue.model.state.value == "ready"
        assert "replay" in queue.model.detail
    finally:
        queue.stop()


def test_an_interrupt_to_the_process_group_leaves_the_analysis_running(
    client_factory, tmp_path, monkeypatch
) -> None:
    """Ctrl-C in the terminal running ``shelfscan serve`` reaches every process of its group;
    the web process stops the child itself, so the child's running scan must not die of it
    (it printed a ``KeyboardInterrupt`` traceback and was replaced)."""
    log = tmp_path / "analyses.log"
    client, accepted, child = _scan_under_way(client_factory, log, monkeypatch, "interrupted")
    queue = client.app.state.scan_queue

    os.kill(child, signal.SIGINT)
    done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)

    assert done["status"] == "done", done
    assert done["attempts"] == 1
    time.sleep(1.0)  # an interrupted child ends once its scan is done, and is replaced
    assert queue._process.is_alive()
    assert queue.restarts == 0 and queue.pid() == child
    assert _analyses(log) == [child]


def test_a_terminated_analysis_process_finishes_its_scan_and_the_stopping_server_keeps_it_down(
    client_factory, tmp_path, monkeypatch
) -> None:
    """SIGTERM to the whole group (systemd, ``kill -- -PGID``) reaches the child before the
    web process has begun to stop: the child finishes its running scan and ends, and is not
    replaced while the server stops."""
    log = tmp_path / "analyses.log"
    client, accepted, child = _scan_under_way(client_factory, log, monkeypatch, "terminated")
    queue = client.app.state.scan_queue

    os.kill(child, signal.SIGTERM)
    done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
    assert done["status"] == "done" and done["attempts"] == 1, done
    _wait_until(lambda: queue._process.exitcode is not None)
    assert queue._process.exitcode == 0
    queue.stop()
    assert queue.restarts == 0
    assert _analyses(log) == [child]


def test_an_analysis_process_stopped_from_outside_is_replaced_when_the_server_keeps_running(
    client_factory, monkeypatch
) -> None:
    monkeypatch.setattr(process_module, "STOPPED_CHILD_GRACE_S", 0.2)
    client = client_factory(worker_mode="process")
    queue = client.app.state.scan_queue
    _wait_until(lambda: queue.pid() is not None)
    victim = queue.pid()
    os.kill(victim, signal.SIGTERM)
    _wait_until(lambda: queue.restarts == 1 and queue.pid() != victim)

    accepted = upload(client, key="after-restart").json()
    done = wait_for(client, accepted["url"], {"done", "failed"}, timeout=60)
    assert done["status"] == "done", done


def _scan_under_way(client_factory, log: Path, monkeypatch, key: str):  # type: ignore[no-untyped-def]
    """A server with an analysis process, and a scan it is analysing (for 1.5 s): the client,
    the accepted scan and the child's process id."""
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv(DELAY_ENV, "1.5")
    client = client_factory(worker_mode="process")
    accepted = upload(client, key=key).json()
    _wait_until(lambda: len(_analyses(log)) == 1)
    child = client.app.state.scan_queue.pid()
    assert _analyses(log) == [child]
    return client, accepted, child
