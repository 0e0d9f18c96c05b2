"""Exception handlers: every refusal becomes a response here, not in the routes.

Two shapes, chosen by where the request went:

* shelfscan's own API: ``{"error": {"code", "message", "field", ...}}``;
* the Azure-compatible routes (``/computervision/...``): Azure's
  ``{"error": {"code", "message", "target", "details", "innererror"}}`` with an
  ``x-ms-error-code`` header, so Azure's clients read shelfscan's errors as they read Azure's.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.limits import PlanogramTooLarge
from shelfscan.services.errors import Conflict, ShelfscanError

AZURE_PREFIX = "/computervision/"


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """shelfscan's error body."""
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, **extra}}
    )


def azure_error_response(error: ShelfscanError) -> JSONResponse:
    """Azure's error body: ``field`` is Azure's ``target``; the header carries
    ``error.header_code`` (the specific inner code unless the error names another)."""
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "target": error.field,
            "details": error.details,
            "innererror": {"code": error.inner_code or error.code, "message": error.message},
        }
    }
    return JSONResponse(
        body, status_code=error.http_status, headers={"x-ms-error-code": error.header_code}
    )


def is_azure_route(request: Request) -> bool:
    return request.url.path.startswith(AZURE_PREFIX)


def render_error(request: Request, error: ShelfscanError) -> JSONResponse:
    if is_azure_route(request):
        return azure_error_response(error)
    return error_response(error.http_status, error.code, error.message, field=error.field)


def _problem_message(item: dict[str, Any]) -> str:
    """``limit must be greater than or equal to 1, not '0'`` from pydantic's error."""
    name = str(item["loc"][-1])
    text = str(item["msg"])
    text = text[0].lower() + text[1:] if text else text
    text = text.replace("input should be", "must be", 1)
    if "input" in item:
        return f"{name} {text}, not {item['input']!r}"
    return f"{name} {text}"


def validation_error(error: RequestValidationError) -> ShelfscanError:
    """A request FastAPI could not parse, as the service's error: ``invalid_query`` naming the
    query parameter when the query is at fault, else ``invalid_request``."""
    items = list(error.errors())
    problems = [
        {"location": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
        for item in items
    ]
    first = items[0] if items else {"loc": ("request",), "msg": "invalid"}
    location = first["loc"]
    if location and location[0] == "query":
        failure = ShelfscanError(
            "invalid_query", _problem_message(first), field=str(location[-1]), http_status=422
        )
    elif location and location[0] == "body" and len(location) > 1:
        # Name the body field at fault (``code``, ``name``), as for a query parameter.
        field = ".".join(str(part) for part in location[1:])
        failure = ShelfscanError(
            "invalid_request", f"{field}: {first['msg']}", field=field, http_status=422
        )
    else:
        failure = ShelfscanError("invalid_request", "the request is invalid", http_status=422)
    failure.details = problems
    return failure


def integrity_conflict(error: IntegrityError) -> Conflict:
    """A constraint the database enforced: two requests raced to create the same thing (the
    look-up before the insert saw neither), or a row something else still refers to. Either
    way the request conflicts with what is stored: 409, naming the constraint."""
    detail = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    return Conflict(
        "conflict",
        f"the request conflicts with what is stored (a concurrent request may have created "
        f"the same record): {detail[:200]}",
    )


_HTTP_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def framework_refusal(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # The framework's own refusals (unknown path, a multipart body it cannot parse) in the
        # same error body as everything else, so clients and the OpenAPI document see one shape.
        failure = ShelfscanError(
            _HTTP_CODES.get(error.status_code, "http_error"),
            str(error.detail),
            http_status=error.status_code,
        )
        response = render_error(request, failure)
        if error.headers:
            response.headers.update(error.headers)
        return response

    @app.exception_handler(IntegrityError)
    async def constraint_violated(request: Request, error: IntegrityError) -> JSONResponse:
        return render_error(request, integrity_conflict(error))

    @app.exception_handler(ShelfscanError)
    async def refused(request: Request, error: ShelfscanError) -> JSONResponse:
        return render_error(request, error)

    @app.exception_handler(PlanogramError)
    async def invalid_planogram(_: Request, error: PlanogramError) -> JSONResponse:
        if isinstance(error, PlanogramTooLarge):  # each problem names the limit and count
            return error_response(
                413,
                "planogram_too_large",
                f"the planogram is over a size limit: {error.problems[0]}",
                problems=[p.as_dict() for p in error.problems],
            )
        return error_response(
            422,
            "invalid_planogram",
            f"the planogram has {len(error.problems)} problem(s)",
            problems=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        failure = validation_error(error)
        if is_azure_route(request):
            failure.code = failure.header_code = "InvalidRequest"
            failure.http_status = 400  # type: ignore[misc]
            failure.details = [
                {"code": "InvalidArgument", "message": p["problem"], "target": p["location"]}
                for p in failure.details
            ]
            return azure_error_response(failure)
        extra: dict[str, Any] = {"problems": failure.details}
        if failure.field is not None:
            extra["field"] = failure.field
        return error_response(failure.http_status, failure.code, failure.message, **extra)


class ErrorDetail(BaseModel):
    """What went wrong: a machine-readable ``code``, a ``message`` naming what and where, the
    ``field`` at fault when one is (Azure's routes call it ``target``)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: shelfscan's ``{"error": {code, message, field, ...}}`` or, on the
    Azure-compatible routes, Azure's ``{"error": {code, message, target, details, innererror}}``."""

    error: ErrorDetail


# Every refusal a route can answer with: the service's errors (400, 404, 409, 413, 422, 503)
# and those the framework and middleware add (bodies over their limit, bad parameters).
DOCUMENTED_ERRORS = {
    400: "Malformed request: bad JSON (located), body or parameters",
    404: "Not found: store, bay, planogram, version, scan or run",
    409: "Conflicts with what is stored (a uniqueness race, a reused key, a state)",
    413: "Body, file, image or planogram over its limit (the message names it)",
    422: "Well-formed but unacceptable values; the field is named",
    503: "Busy, over the request's time budget, or a dependency is unavailable",
}

_AZURE_API_VERSION = {
    "name": "api-version",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "enum": ["2023-04-01-preview"]},
    "description": "Azure's API version; 2023-04-01-preview",
}
_AZURE_IMAGE_BODY = {
    "required": True,
    "description": "The image bytes (JPEG, PNG, …; 50–16,000 px a side, at most 20 MB)",
    "content": {
        media: {"schema": {"type": "string", "format": "binary"}}
        for media in ("application/octet-stream", "image/jpeg", "image/png")
    },
}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": True,
        }
    },
    "description": ErrorOut.__doc__,
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_AUTH_ERRORS = {
    401: "No or invalid credentials",
    403: "Not permitted for this principal",
    429: "Too many attempts; retry later",
}


def document_errors(app: FastAPI) -> None:
    """Every route's OpenAPI entry lists every error status with the error body (the
    framework's own 422 schema is replaced: the handlers above render every 422 as ErrorOut),
    and the Azure routes list the ``api-version`` parameter and image body they read from the
    raw request. Done on the generated document, whatever the routers look like inside."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorOut"] = ERROR_SCHEMA
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = operation["responses"]
                for status, description in {**DOCUMENTED_ERRORS, **_AUTH_ERRORS}.items():
                    entry = responses.setdefault(str(status), {"description": description})
                    if str(status) == "422" or "content" not in entry:
                        entry["content"] = {"application/json": {"schema": _ERROR_REF}}
                if path.startswith("/computervision/productrecognition"):
                    parameters = operation.setdefault("parameters", [])
                    if not any(p.get("name") == "api-version" for p in parameters):
                        parameters.append(_AZURE_API_VERSION)
                    if method == "put":
                        operation.setdefault("requestBody", _AZURE_IMAGE_BODY)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
