"""Celery runner: the same :func:`shelfscan.jobs.tasks.run_scan`, in worker processes fed by
Redis when ``SHELFSCAN_BROKER_URL`` is set.

A worker killed mid-scan loses nothing: tasks are acknowledged only after they finish
(``acks_late``), a pool child that dies is requeued (``reject_on_worker_lost``), a whole worker
that dies has its unacknowledged message redelivered by Redis after the visibility timeout,
and independently of the broker the reaper re-sends scans whose lease expired. Each worker
takes one message at a time (prefetch 1), so a long scan never holds others hostage.

Start a worker with ``shelfscan worker`` (or ``celery -A shelfscan.jobs.celery_app worker``).
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from typing import Any

from celery import Celery, signals

from shelfscan.jobs.inprocess import ScanQueue, build_context
from shelfscan.jobs.reaper import reap
from shelfscan.jobs.sweeper import PeriodicSweep
from shelfscan.jobs.tasks import JobContext, run_scan
from shelfscan.settings import Settings, get_settings

log = logging.getLogger(__name__)

TASK_NAME = "shelfscan.run_scan"


def make_celery(settings: Settings) -> Celery:

    app = Celery("shelfscan", broker=settings.broker_url or "redis://127.0.0.1:6379/0")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.scan_queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_s},
        # Past the scan deadline the reaper has failed the scan; stop spending CPU on it.
        task_soft_time_limit=settings.scan_deadline_s,
        task_time_limit=settings.scan_deadline_s + 30,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=200,
    )

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
    def run_scan_task(scan_id: str) -> str:
        return run_scan(scan_id, worker_context())

    from shelfscan.audits.runner import register_celery

    register_celery(app, settings)  # scheduled audits: the ticker as a beat task
    return app


class CeleryQueue(ScanQueue):
    """The web side: sends scan ids to the broker (and runs a reaper of its own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery = make_celery(settings)
        self._reaper: _ReaperThread | None = None

    def enqueue(self, scan_id: str, delay_s: float = 0.0) -> None:
        self.celery.send_task(
            TASK_NAME,
            args=[scan_id],
            queue=self.settings.scan_queue,
            countdown=delay_s or None,
        )

    def start(self) -> None:
        self._reaper = _ReaperThread(self.settings, self.enqueue)
        self._reaper.start()
        try:  # import the transport and connect now, not on the first upload's answer
            with self.celery.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1, interval_start=0.2)
        except Exception:  # the broker is down: uploads still commit, the reaper resends
            log.warning("could not reach the broker at start", exc_info=True)

    def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.stop()


class _ReaperThread:
    def __init__(self, settings: Settings, enqueue: Any) -> None:
        self.settings, self.enqueue = settings, enqueue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        from shelfscan.storage import get_storage

        sweep = PeriodicSweep(
            self.settings.resolved_database_url,
            get_storage(self.settings),
            self.settings.orphan_sweep_after_s,
        )
        while not self._stop.is_set():
            try:
                reap(
                    self.settings.resolved_database_url,
                    self.enqueue,
                    deadline_s=self.settings.scan_deadline_s,
                    max_attempts=self.settings.scan_max_attempts,
                    requeue_after_s=self.settings.requeue_after_s,
                )
            except Exception:
                log.warning("reaper round failed", exc_info=True)
            sweep.maybe_run()
            self._stop.wait(self.settings.reaper_interval_s)


@lru_cache(maxsize=1)
def worker_context() -> JobContext:
    """Built once per worker process, on its first task."""
    return build_context(get_settings(), enqueue=_send_later)


def _send_later(scan_id: str, delay_s: float) -> None:
    app.send_task(TASK_NAME, args=[scan_id], queue=get_settings().scan_queue, countdown=delay_s)


app = make_celery(get_settings())

_worker_reaper: _ReaperThread | None = None


@signals.worker_init.connect
def _lower_priority(**_: Any) -> None:
    """Before the pool starts, so every child inherits it: analysis yields the CPU to a web
    server (and its upload answers) sharing the machine."""
    nice = get_settings().worker_nice
    if nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            log.warning("could not lower the worker's priority", exc_info=True)


@signals.worker_ready.connect
def _start_reaper(**_: Any) -> None:
    """Each worker's main process also reaps: no scan waits for a web process to notice."""
    global _worker_reaper
    settings = get_settings()

    def enqueue(scan_id: str, delay_s: float) -> None:
        app.send_task(
            TASK_NAME, args=[scan_id], queue=settings.scan_queue, countdown=delay_s or None
        )

    _worker_reaper = _ReaperThread(settings, enqueue)
    _worker_reaper.start()


@signals.worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _worker_reaper is not None:
        _worker_reaper.stop()
