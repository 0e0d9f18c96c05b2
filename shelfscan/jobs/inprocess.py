"""The default runner: a bounded thread pool inside the web process, plus the reaper.

``worker_concurrency`` threads analyse at most that many scans at once, so uploads keep being
answered while scans run. Nothing lives only in memory: scans are queued in the database, so
after a restart the reaper's first round re-sends every queued scan and, once their leases
expire, the ones the old process was working on.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shelfscan.jobs.gate import UploadGate
from shelfscan.jobs.reaper import reap
from shelfscan.jobs.sweeper import PeriodicSweep
from shelfscan.jobs.tasks import Enqueue, JobContext, run_scan
from shelfscan.settings import Settings
from shelfscan.storage import Storage

log = logging.getLogger(__name__)


class ScanQueue:
    """What the web layer uses to hand a committed scan to the runner."""

    # Uploads the web process is receiving, which the runner's scans wait for (one machine).
    gate: UploadGate | None = None

    def enqueue(self, scan_id: str, delay_s: float = 0.0) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the runner and the reaper."""

    def stop(self) -> None:
        """Stop accepting work; running scans finish or are picked up after a restart."""


class InProcessQueue(ScanQueue):
    def __init__(
        self,
        context: JobContext,
        *,
        run_reaper: bool = True,
        thread_nice: int | None = None,
        gate: UploadGate | None = None,
    ) -> None:
        self.context = context
        self.gate = gate or UploadGate(context.settings.upload_priority_s)
        self.run_reaper = run_reaper
        # None: the settings' worker_nice; 0 where the whole process is niced already.
        self.thread_nice = context.settings.worker_nice if thread_nice is None else thread_nice
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None
        context.enqueue = self.enqueue
        context.gate = self.gate

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=self.context.settings.worker_concurrency,
            thread_name_prefix="scan",
            initializer=lower_thread_priority,
            initargs=(self.thread_nice,),
        )
        self._stopping.clear()
        if self.run_reaper:
            self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
            self._reaper.start()

    def enqueue(self, scan_id: str, delay_s: float = 0.0) -> None:
        if self._stopping.is_set() or self._executor is None:
            return  # still queued in the database; the next start sends it
        if delay_s > 0:
            timer = threading.Timer(delay_s, self._timer_fired, args=(scan_id,))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        with self._lock:
            if scan_id in self._pending:
                return  # already waiting for a thread; the claim would skip a duplicate anyway
            self._pending.add(scan_id)
        try:
            future = self._executor.submit(self._run, scan_id)
        except RuntimeError:  # shut down between the check and the submit
            with self._lock:
                self._pending.discard(scan_id)
            return
        future.add_done_callback(self._log_crash)

    def _timer_fired(self, scan_id: str) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}
        self.enqueue(scan_id)

    def _run(self, scan_id: str) -> str:
        with self._lock:
            self._pending.discard(scan_id)
        if self.gate is not None:
            self.gate.wait_for_uploads()
        return run_scan(scan_id, self.context)

    @staticmethod
    def _log_crash(future: Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("scan task crashed", exc_info=future.exception())

    def reap_once(self, *, requeue_after_s: float | None = None) -> Any:
        return reap_once(self.context.settings, self.enqueue, requeue_after_s=requeue_after_s)

    def _reap_loop(self) -> None:
        reap_forever(self.context.settings, self.context.storage, self.enqueue, self._stopping)

    def stop(self, *, wait: bool = True) -> None:
        self._stopping.set()
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
        if self._reaper is not None:
            self._reaper.join(timeout=5)


def reap_once(settings: Settings, enqueue: Enqueue, *, requeue_after_s: float | None = None) -> Any:
    return reap(
        settings.resolved_database_url,
        enqueue,
        deadline_s=settings.scan_deadline_s,
        max_attempts=settings.scan_max_attempts,
        requeue_after_s=settings.requeue_after_s if requeue_after_s is None else requeue_after_s,
    )


def reap_forever(
    settings: Settings, storage: Storage, enqueue: Enqueue, stopping: threading.Event
) -> None:
    """The reaper thread of an in-process runner: every ``reaper_interval_s``, re-send lost and
    stale scans and fail overdue ones; now and then sweep orphaned files."""
    first = True
    sweep = PeriodicSweep(settings.resolved_database_url, storage, settings.orphan_sweep_after_s)
    while not stopping.is_set():
        try:
            # On start every queued scan is ours to send: the old process's queue is gone.
            reap_once(settings, enqueue, requeue_after_s=1e-6 if first else None)
            first = False
        except Exception:
            log.warning("reaper round failed", exc_info=True)
        sweep.maybe_run()
        stopping.wait(settings.reaper_interval_s)


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread yield the CPU to the web server's threads.

    On Linux a thread is a schedulable task of its own, so this renices only the analysis
    thread (and the threads it starts: the lease heartbeat, a detector's own pool), not the
    event loop answering uploads. Elsewhere it is a no-op.
    """
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
    except OSError:  # not permitted in this sandbox: run at normal priority
        log.warning("could not lower the analysis threads' priority", exc_info=True)


def build_context(settings: Settings, *, enqueue: Enqueue | None = None) -> JobContext:
    from shelfscan.jobs.analysis import load_analyzer
    from shelfscan.storage import get_storage

    return JobContext(
        settings=settings,
        storage=get_storage(settings),
        analyzer=load_analyzer(settings, settings.scan_analyzer),
        enqueue=enqueue,
    )
