"""Running the ticker: embedded (a daemon thread in ``serve``) or as a Celery beat task when a
broker is configured — the same :func:`run_once` either way. Several processes may run it at
once: occurrences are unique by key, transitions are conditional and the tick takes a
database lock."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from shelfscan.audits import occurrences, webhooks
from shelfscan.db.session import session_factory
from shelfscan.settings import Settings

log = logging.getLogger("shelfscan.audits")


def run_once(settings: Settings, now: datetime | None = None) -> occurrences.TickResult:
    """One tick (create and advance occurrences) and one round of webhook deliveries."""
    factory = session_factory(settings.resolved_database_url)
    with factory() as session:
        result = occurrences.tick(
            session, now, due_soon=timedelta(minutes=settings.audit_due_soon_minutes)
        )
    with factory() as session:
        webhooks.deliver_due(
            session,
            now=now,
            allow_private=settings.webhook_allow_private,
            timeout_s=settings.webhook_timeout_s,
        )
    return result


class EmbeddedScheduler:
    """The ticker thread of ``serve``; ``stop()`` ends it within a second."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-ticker", daemon=True)

    def start(self) -> EmbeddedScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self.settings)
            except Exception:
                log.exception("audit tick failed")
            self._stop.wait(self.settings.audit_tick_interval_s)


def start_audit_scheduler(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Embedded unless disabled or a Celery broker runs beat (``register_celery``)."""
    if not settings.audit_scheduler or settings.broker_url:
        return
    app.state.audit_scheduler = EmbeddedScheduler(settings).start()


def stop_audit_scheduler(app) -> None:  # type: ignore[no-untyped-def]
    scheduler = getattr(app.state, "audit_scheduler", None)
    if scheduler is not None:
        scheduler.stop()


def register_celery(celery_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """The same tick as a Celery task, run by beat every ``audit_tick_interval_s``."""

    @celery_app.task(name="shelfscan.audits.tick")
    def audit_tick() -> dict[str, int]:
        result = run_once(settings)
        return {"created": result.created, "events": result.events}

    celery_app.conf.beat_schedule = {
        **(celery_app.conf.beat_schedule or {}),
        "shelfscan-audit-tick": {
            "task": "shelfscan.audits.tick",
            "schedule": settings.audit_tick_interval_s,
        },
    }
