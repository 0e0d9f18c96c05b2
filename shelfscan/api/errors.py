"""One JSON error shape for shelfscan's own API: ``{"error": {"code", "message", ...}}``.

The Azure-compatible routes answer in Azure's own error shape instead (see their modules)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram_store import ConflictError, NotFoundError


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, **extra}}
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PlanogramError)
    async def invalid_planogram(_: Request, error: PlanogramError) -> JSONResponse:
        return error_response(
            422,
            "invalid_planogram",
            f"the planogram has {len(error.problems)} problem(s)",
            problems=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, error: NotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, error: ConflictError) -> JSONResponse:
        return error_response(409, "conflict", str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "location": ".".join(str(part) for part in item["loc"]),
                "problem": item["msg"],
            }
            for item in error.errors()
        ]
        return error_response(422, "invalid_request", "the request is invalid", problems=problems)
