"""Liveness and readiness probes."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from shelfscan import __version__
from shelfscan.api.deps import SettingsDep
from shelfscan.db.session import engine_for
from shelfscan.model_check import check_model
from shelfscan.model_loading import ModelState

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    version: str


class ReadyOut(BaseModel):
    status: str = Field(description="ready, or loading / not_ready (then the answer is 503)")
    checks: dict[str, dict[str, Any]] = Field(description="database and model, each with ok")


log = logging.getLogger(__name__)


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> dict[str, str]:
    # On the event loop itself: it must answer while every worker thread is busy.
    return {"status": "ok", "version": __version__}


def _loading(name: str, check: dict[str, Any]) -> JSONResponse:
    """503 ``loading``: the server is still starting ``name``."""
    return JSONResponse(status_code=503, content={"status": "loading", "checks": {name: check}})


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="The database answers and the detection model loads",
    responses={503: {"model": ReadyOut, "description": "Not ready"}},
)
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    loader = getattr(request.app.state, "model_loader", None)
    if loader is not None and loader.state is ModelState.LOADING:
        # Not ready until the model is in memory; the check below would wait for the load.
        return _loading(
            "model",
            {"ok": False, "backend": settings.detector_backend.value, "detail": loader.detail},
        )
    heavy = getattr(request.app.state, "heavy_work", None)
    starting = heavy.starting() if heavy is not None else 0
    if starting:
        # Its heavy-work processes are importing on the server's own cores: a burst of traffic
        # sent now would wait for them.
        return _loading(
            "heavy_work", {"ok": False, "detail": f"{starting} heavy-work process(es) starting"}
        )
    checks: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        with engine_for(settings.resolved_database_url).connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as error:  # any driver error means "not ready", reported, not raised
        log.warning("readiness: database unreachable", extra={"error": str(error)})
        checks["database"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    checks["database"]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if loader is not None:  # loaded in the background, here or in the analysis process
        ok = loader.state is ModelState.READY
        checks["model"] = {"ok": ok, "backend": settings.detector_backend.value}
        checks["model"]["detail"] = loader.detail
    else:
        model = check_model(settings)
        checks["model"] = {"ok": model.ok, "backend": model.backend, "detail": model.detail}
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        status_code=200 if ready else 503,
        content={"status": "ready" if ready else "not_ready", "checks": checks},
    )
