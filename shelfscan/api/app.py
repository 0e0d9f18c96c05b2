"""FastAPI application factory."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelfscan import __version__
from shelfscan.api.errors import document_errors, install_error_handlers
from shelfscan.api.limits import BodyLimitMiddleware, heavy_work
from shelfscan.api.routes import (
    analytics,
    audits,
    auth,
    corrections,
    dashboard,
    docs,
    health,
    planogram_compliance,
    planograms,
    product_recognition,
    scans,
    stores,
    web,
)
from shelfscan.api.security import authorize, install_security
from shelfscan.audits.runner import start_audit_scheduler, stop_audit_scheduler
from shelfscan.logging import configure_logging, request_id_var
from shelfscan.model_loading import ModelLoader
from shelfscan.services.background import start_scan_runner, stop_scan_runner
from shelfscan.settings import Settings, get_settings

log = logging.getLogger("shelfscan.http")

REQUEST_ID_HEADER = "X-Request-ID"
_REPEATED_SLASHES = re.compile(r"/{2,}")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare_runtime(settings)
        # Background scan analysis: in-process threads, or Celery when a broker is configured.
        start_scan_runner(app, settings)
        # Scheduled audits: the ticker thread (unless disabled or Celery beat runs it).
        start_audit_scheduler(app, settings)
        # The first uploads after a start should not pay for imports and connections,
        # nor for FastAPI building the routes.
        await run_in_threadpool(scans.warm_up, settings)
        await run_in_threadpool(warm_routes, app)
        # Nor the first planogram import or :match: the heavy-work processes start now.
        heavy_work(app.state)
        # Nor the first scan for the model: it loads in the background (/readyz: loading),
        # in the analysis process where there is one.
        child_model = getattr(getattr(app.state, "scan_queue", None), "model", None)
        if child_model is not None:
            app.state.model_loader = child_model
        elif settings.load_model_on_start:
            app.state.model_loader = ModelLoader(settings)
            app.state.model_loader.start()
        yield
        stop_audit_scheduler(app)
        stop_scan_runner(app)
        if getattr(app.state, "heavy_work", None) is not None:
            app.state.heavy_work.shutdown()
            app.state.heavy_work = None  # a restarted app (tests) makes a new pool

    app = FastAPI(
        title="shelfscan",
        version=__version__,
        summary="Shelf photo → product detections → planogram compliance report.",
        lifespan=lifespan,
        # Every route: 401/403/404 per shelfscan.api.security.ROUTE_PERMISSIONS.
        dependencies=[Depends(authorize)],
        # Served by routes.docs from the package's own copies of Swagger UI and ReDoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings

    # Outermost last: every answer, a refused body's included, carries the request id.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    install_security(app, settings)
    for router in (
        health.router,
        planograms.router,
        stores.router,
        product_recognition.router,
        planogram_compliance.router,
        scans.router,
        web.router,
        docs.router,
        analytics.router,
        dashboard.router,
        audits.router,
        corrections.router,
        auth.router,
        auth.store_router,
    ):
        app.include_router(router)
    document_errors(app)
    return app


class RequestContextMiddleware:
    """Request id (echoed from ``X-Request-ID`` or generated) in every log line and the
    response, and one access-log line per request.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which would stream every upload body
    through an extra task and queue."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "//" in scope["path"]:
            # The official Azure sample clients join '/computervision' + '/' + '/path', so
            # every request they send has a doubled slash; Azure accepted it, so do we.
            scope = dict(scope, path=_REPEATED_SLASHES.sub("/", scope["path"]))
            scope["raw_path"] = scope["path"].encode()
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            log.exception("unhandled error", extra={"method": scope["method"]})
            raise
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)


def warm_routes(app: FastAPI) -> None:
    """Build now what FastAPI builds on each router's first request: the routes of an included
    router with their dependants, and each endpoint's source location (for its error
    messages). Done lazily, that held the GIL for ~40–90 ms on the first upload after a start,
    and ``/healthz`` waited. Best effort: it uses FastAPI's private names, which may change."""
    try:
        from fastapi.routing import _extract_endpoint_context, _IncludedRouter
    except ImportError:
        return

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, _IncludedRouter):
                walk(route.effective_candidates())
            elif callable(getattr(route, "endpoint", None)):
                _extract_endpoint_context(route.endpoint)

    try:
        walk(app.router.routes)
    except Exception:
        log.warning("route warm-up failed; the first requests build the routes", exc_info=True)


def prepare_runtime(settings: Settings) -> None:
    """Logging, data folders and (unless disabled) database migrations."""
    configure_logging(settings.log_level, json_output=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        from shelfscan.db.migrate import upgrade

        upgrade(settings.resolved_database_url)
        log.info("database migrated", extra={"database": _redact(settings.resolved_database_url)})


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
