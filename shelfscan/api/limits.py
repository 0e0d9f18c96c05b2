"""Request limits as one policy: how large a body each route takes, which JSON it decodes,
and how much CPU time and how many threads heavy work may use.

* :class:`BodyLimitMiddleware` reads a request's body up to its route's limit before the app
  sees it (answering 413 naming the limit and the setting that holds it) and refuses hostile
  JSON (too deep, numbers too long or overflowing) on shelfscan's own JSON routes with a located
  400, whichever framework code would have decoded it. Scan uploads stream their multipart
  body under their own limit and are passed through.
* :func:`heavy_work` is the app's :class:`~shelfscan.api.heavy.HeavyWork`: CPU-heavy work
  (planogram import and validation, matching) in a bounded pool of worker processes (or
  threads, ``SHELFSCAN_HEAVY_MODE``), off the event loop, with a time budget per request.

Every number comes from :class:`~shelfscan.settings.Settings`; ``docs/limits.md`` lists them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelfscan.api.errors import AZURE_PREFIX, azure_error_response, error_response
from shelfscan.api.heavy import HeavyWork
from shelfscan.planogram.limits import DEFAULT_LIMITS, PlanogramLimits
from shelfscan.safe_json import JsonRejected, loads_bounded
from shelfscan.services.errors import ShelfscanError, TooLarge
from shelfscan.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Routes that stream and bound their own body (multipart scan uploads).
_STREAMING_ROUTES = re.compile(r"^/api/v1/stores/[^/]+/bays/[^/]+/scans$")
_PLANOGRAM_ROUTES = re.compile(r"^/api/v1/planograms(:validate)?$")
_IMAGE_ROUTES = re.compile(r"^/computervision/productrecognition/")
_MATCH_ROUTE = "/computervision/planogramcompliance:match"


@dataclass(frozen=True)
class BodyRule:
    limit: int
    setting: str
    # Decode JSON bodies here with the bounded decoder (routes that decode it themselves, with
    # their own located errors, say False).
    check_json: bool


def body_rule(path: str, settings: Settings) -> BodyRule | None:
    """The body limit of the route at ``path``; None for routes that bound their own."""
    if _STREAMING_ROUTES.match(path):
        return None
    if _PLANOGRAM_ROUTES.match(path):
        return BodyRule(settings.max_planogram_bytes, "SHELFSCAN_MAX_PLANOGRAM_BYTES", False)
    if path == _MATCH_ROUTE:
        return BodyRule(settings.max_match_body_bytes, "SHELFSCAN_MAX_MATCH_BODY_BYTES", False)
    if _IMAGE_ROUTES.match(path):
        return BodyRule(settings.max_image_body_bytes, "SHELFSCAN_MAX_IMAGE_BODY_BYTES", False)
    return BodyRule(settings.max_json_body_bytes, "SHELFSCAN_MAX_JSON_BODY_BYTES", True)


def _too_large(size: int, rule: BodyRule, *, declared: bool) -> ShelfscanError:
    said = "declares" if declared else "is over"
    amount = f"{size:,} bytes" if declared else f"{rule.limit:,} bytes"
    return TooLarge(
        "request_too_large",
        f"the request body {said} {amount}; this route takes at most {rule.limit:,} bytes "
        f"({rule.setting})",
        field="body",
    )


class BodyLimitMiddleware:
    """Bound every request body by its route's rule; refuse hostile JSON before parsing."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        rule = body_rule(scope["path"], self.settings)
        if rule is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > rule.limit:
            await self._refuse(scope, receive, send, _too_large(int(declared), rule, declared=True))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > rule.limit:
                await self._refuse(scope, receive, send, _too_large(size, rule, declared=False))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if rule.check_json and body and "json" in headers.get("content-type", ""):
            try:
                loads_bounded(body)
            except JsonRejected as error:
                refusal = ShelfscanError(
                    "invalid_json",
                    f"the request body is not acceptable JSON at {error.location}: {error.problem}",
                    field="body",
                    http_status=400,
                )
                await self._refuse(scope, receive, send, refusal)
                return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: ShelfscanError
    ) -> None:
        if scope["path"].startswith(AZURE_PREFIX):
            response = azure_error_response(error)
        else:
            response = error_response(
                error.http_status, error.code, error.message, field=error.field
            )
        await response(scope, receive, send)


def app_settings(app_state: Any) -> Settings:
    """The app's settings (an app assembled without them, as some tests do: the defaults)."""
    settings = getattr(app_state, "settings", None)
    return settings if settings is not None else get_settings()


def heavy_work(app_state: Any) -> HeavyWork:
    """The app's pool (made on first use from its settings)."""
    pool = getattr(app_state, "heavy_work", None)
    if pool is None:
        settings = app_settings(app_state)
        pool = HeavyWork(
            settings.heavy_workers,
            settings.heavy_queue,
            settings.request_time_budget_s,
            mode=settings.heavy_mode,
        )
        app_state.heavy_work = pool
    return pool


def planogram_limits(settings: Settings) -> PlanogramLimits:
    """The planogram size policy with the configured values."""
    return replace(
        DEFAULT_LIMITS,
        max_bytes=settings.max_planogram_bytes,
        max_positions=settings.max_planogram_positions,
        max_facings=settings.max_planogram_facings,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``shelfscan serve``: the h11 parser (whose incomplete-event limit
    bounds a request's head: 100 KB–32 MB headers were accepted with httptools) and a short
    keep-alive so idle connections are closed. uvicorn has no timeout for a head or body that
    arrives slowly; put a proxy in front (docs/limits.md) where slow clients matter."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keep_alive_s,
    }
