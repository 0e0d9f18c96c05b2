"""Background analysis of scans: one task, two runners (in-process threads or Celery)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shelfscan.jobs.inprocess import InProcessQueue, ScanQueue, build_context
from shelfscan.jobs.tasks import JobContext, run_scan

if TYPE_CHECKING:
    from fastapi import FastAPI

    from shelfscan.settings import Settings

__all__ = [
    "InProcessQueue",
    "JobContext",
    "ScanQueue",
    "build_context",
    "make_scan_queue",
    "run_scan",
    "start_background_worker",
    "stop_background_worker",
]

log = logging.getLogger(__name__)


def make_scan_queue(settings: Settings) -> ScanQueue:
    """Celery when a broker is configured; otherwise a child process of the server (or, with
    ``SHELFSCAN_WORKER_MODE=thread``, threads of the server process)."""
    if settings.broker_url:
        from shelfscan.jobs.celery_app import CeleryQueue

        return CeleryQueue(settings)
    if settings.worker_mode == "process":
        from shelfscan.jobs.process import ProcessQueue

        return ProcessQueue(settings)
    return InProcessQueue(build_context(settings))


def start_background_worker(app: FastAPI, settings: Settings) -> ScanQueue:
    """Called from the app's lifespan: ``app.state.scan_queue`` is what the routes use."""
    queue = make_scan_queue(settings)
    queue.start()
    app.state.scan_queue = queue
    log.info("scan runner started", extra={"runner": type(queue).__name__})
    return queue


def stop_background_worker(app: FastAPI) -> None:
    queue: ScanQueue | None = getattr(app.state, "scan_queue", None)
    if queue is not None:
        queue.stop()
        app.state.scan_queue = None
