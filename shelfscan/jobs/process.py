"""The default one-machine runner: scans are analysed in a child process of the web server.

Threads of the web process (``SHELFSCAN_WORKER_MODE=thread``) share its GIL with the event
loop: while a photo was decoded, checked and matched, uploads and ``/healthz`` waited (a
retried upload held ``/healthz`` for 120–350 ms, and 50 concurrent uploads took 7× as long
as a bare endpoint). Here one spawned, niced process runs the same in-process runner
(``worker_concurrency`` threads, the same :func:`shelfscan.jobs.tasks.run_scan`) and loads the
model in the background; the web process only sends it scan ids and keeps the reaper, so

* nothing lives only in the child: scans are queued in the database, and the reaper re-sends
  queued scans and, once their leases expire, the ones a dead child was working on;
* a child that dies (killed for memory, a crash) is replaced at once and every queued scan
  is re-sent to the new one;
* ``/readyz`` reports the child's model load (:attr:`ProcessQueue.model`);
* the web process decides when the child stops: Ctrl-C in a terminal reaches the whole
  process group, so the child ignores it, and a SIGTERM sent to the group (systemd,
  ``kill -- -PGID``) makes it finish its running scans and end, not die mid-scan to be
  replaced while the server shuts down.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue as queue_module
import signal
import threading
from typing import Any

from shelfscan.jobs.gate import UploadGate
from shelfscan.jobs.inprocess import ScanQueue, reap_forever, reap_once
from shelfscan.model_loading import ModelLoader, ModelState, ModelStatus
from shelfscan.settings import Settings

log = logging.getLogger(__name__)

_STOP = None  # the command that ends the child
# A child that ended because it was asked to (SIGTERM) waits this long for the web process to
# stop as well (a signal to the whole group reaches the child first) before it is replaced.
STOPPED_CHILD_GRACE_S = 10.0


class _StopRequested(Exception):
    """SIGTERM reached the analysis process: finish the running scans, then end."""


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise _StopRequested


class ProcessQueue(ScanQueue):
    def __init__(self, settings: Settings, *, load_model: bool | None = None) -> None:
        self.settings = settings
        self.load_model = settings.load_model_on_start if load_model is None else load_model
        # /readyz's source while the child loads the model (None: not loaded at start).
        self.model: ModelStatus | None = ModelStatus() if self.load_model else None
        self._mp = multiprocessing.get_context("spawn")
        # Shared with every child: the uploads this process is receiving.
        self.gate = UploadGate(settings.upload_priority_s, self._mp.Value("i", 0))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: Any = None
        self._commands: Any = None
        self._events: Any = None
        self._threads: list[threading.Thread] = []
        self.restarts = 0

    # --- ScanQueue -------------------------------------------------------------------------

    def start(self) -> None:
        from shelfscan.storage import get_storage

        self._stopping.clear()
        self._start_child()
        self._threads = [
            threading.Thread(target=self._watch, name="analysis-watch", daemon=True),
            threading.Thread(
                target=reap_forever,
                args=(self.settings, get_storage(self.settings), self.enqueue, self._stopping),
                name="reaper",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def enqueue(self, scan_id: str, delay_s: float = 0.0) -> None:
        if self._stopping.is_set():
            return  # still queued in the database; the next start sends it
        with self._lock:
            commands = self._commands
        if commands is not None:
            commands.put((scan_id, delay_s))

    def stop(self, *, wait: bool = True) -> None:
        self._stopping.set()
        with self._lock:
            process, commands = self._process, self._commands
        if process is not None and commands is not None:
            with contextlib.suppress(Exception):
                commands.put(_STOP)
            # Running scans finish (a scan takes seconds); one still running after its lease
            # is resumed by the next start.
            process.join(self.settings.scan_lease_s if wait else 1.0)
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        for thread in self._threads:
            thread.join(timeout=5)

    # --- the child ------------------------------------------------------------------------

    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def _start_child(self) -> None:
        commands, events = self._mp.Queue(), self._mp.Queue()
        process = self._mp.Process(
            target=child_main,
            args=(self.settings, commands, events, self.load_model, self.gate),
            name="shelfscan-analysis",
            daemon=True,
        )
        process.start()
        with self._lock:
            self._process, self._commands, self._events = process, commands, events
        log.info("analysis process started", extra={"pid": process.pid})

    def _watch(self) -> None:
        """Read the child's reports (its model load) and replace it when it dies."""
        while not self._stopping.is_set():
            with self._lock:
                process, events = self._process, self._events
            try:
                kind, *values = events.get(timeout=0.5)
            except queue_module.Empty:
                if not process.is_alive() and not self._stopping.is_set():
                    if _asked_to_stop(process.exitcode) and self._stopping.wait(
                        STOPPED_CHILD_GRACE_S
                    ):
                        return  # the whole server is stopping: nothing to replace
                    self._replace_dead_child(process.exitcode)
                continue
            except (EOFError, OSError, ValueError):
                continue
            if kind == "model" and self.model is not None:
                state, detail, seconds = values
                self.model.state, self.model.detail = ModelState(state), detail
                self.model.seconds = seconds

    def _replace_dead_child(self, exitcode: int | None) -> None:
        if _asked_to_stop(exitcode):
            log.warning(
                "analysis process was stopped from outside; starting a new one",
                extra={"exitcode": exitcode},
            )
        else:
            log.error("analysis process died; starting a new one", extra={"exitcode": exitcode})
        self.restarts += 1
        if self.model is not None:
            self.model.state, self.model.detail = ModelState.LOADING, "analysis process restarting"
        self._start_child()
        try:
            # Its queued scans were only in the dead child's memory: send them all again now
            # (the ones it was analysing follow when their leases expire).
            reap_once(self.settings, self.enqueue, requeue_after_s=1e-6)
        except Exception:
            log.warning("could not re-send the queued scans; the reaper will", exc_info=True)


def child_main(
    settings: Settings, commands: Any, events: Any, load_model: bool, gate: UploadGate | None = None
) -> None:
    """The analysis process: the in-process runner's threads, fed from ``commands``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    runner = None
    try:  # a SIGTERM while starting up ends the process cleanly too
        import shelfscan.offline  # noqa: F401  (before anything imports ultralytics)
        from shelfscan.jobs.inprocess import InProcessQueue, build_context
        from shelfscan.logging import configure_logging

        configure_logging(settings.log_level, json_output=settings.log_json)
        if settings.worker_nice > 0 and hasattr(os, "nice"):
            try:
                os.nice(settings.worker_nice)  # the web process answers uploads first
            except OSError:
                log.warning("could not lower the analysis process's priority", exc_info=True)
        if load_model:
            ModelLoader(settings, on_done=lambda loader: _report_model(events, loader)).start()
        runner = InProcessQueue(build_context(settings), run_reaper=False, thread_nice=0, gate=gate)
        runner.start()
        while True:
            command = commands.get()
            if command is _STOP:
                break
            scan_id, delay_s = command
            runner.enqueue(scan_id, delay_s)
    except _StopRequested:
        log.info("analysis process asked to stop: finishing its running scans")
    # Stopping now: a SIGTERM from here on (the web process giving up waiting) ends it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if runner is not None:
        runner.stop(wait=True)


def _asked_to_stop(exitcode: int | None) -> bool:
    """The child ended because it was told to (it ends cleanly after a SIGTERM; before its
    handler is in place, by the signal), not because it crashed or was killed."""
    return exitcode in (0, -signal.SIGTERM)


def _report_model(events: Any, loader: ModelLoader) -> None:
    with contextlib.suppress(Exception):
        events.put(("model", loader.state.value, loader.detail, loader.seconds))
