"""Azure-compatible planogram matching: ``POST /computervision/planogramcompliance:match``.

A drop-in for the retired Azure Product Recognition preview endpoint: the same body
(``{detectedProducts, planogram}``), the same ``api-version`` query, the
``Ocp-Apim-Subscription-Key`` header accepted, the same ``matchingResultPerPosition`` answer,
and Azure-style errors (``{"error": {code, message, target, details, innererror}}`` with an
``x-ms-error-code`` header).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shelfscan.compliance.azure_compat import matching_result_per_position
from shelfscan.compliance.engine import match_planogram
from shelfscan.detections import Detections, DetectionsFormatError
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.loader import load_planogram_document

SUPPORTED_API_VERSIONS = ("2023-04-01-preview",)
MATCH_PATH = "/computervision/planogramcompliance:match"

router = APIRouter(tags=["planogram compliance (Azure compatible)"])


def azure_error(
    status_code: int,
    code: str,
    message: str,
    *,
    target: str | None = None,
    details: list[dict[str, Any]] | None = None,
    inner_code: str | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "target": target,
            "details": details or [],
            "innererror": {"code": inner_code or code, "message": message},
        }
    }
    return JSONResponse(body, status_code=status_code, headers={"x-ms-error-code": code})


def _split_location(text: str) -> tuple[str | None, str]:
    location, sep, problem = text.partition(": ")
    return (location, problem) if sep else (None, text)


@router.post(
    MATCH_PATH,
    summary="Match detected products against a planogram (Azure-compatible)",
    responses={400: {"description": "Azure-style error body"}},
)
async def planogram_compliance_match(
    request: Request,
    api_version: str | None = Query(
        default=None, alias="api-version", description="2023-04-01-preview"
    ),
    subscription_key: str | None = Header(
        default=None,
        alias="Ocp-Apim-Subscription-Key",
        description="Accepted for compatibility with Azure clients",
    ),
) -> Any:
    if api_version is None:
        return azure_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter is required; supported: "
            + ", ".join(SUPPORTED_API_VERSIONS),
            target="api-version",
        )
    if api_version not in SUPPORTED_API_VERSIONS:
        return azure_error(
            400,
            "UnsupportedApiVersionValue",
            f"Unsupported api-version {api_version!r}; supported: "
            + ", ".join(SUPPORTED_API_VERSIONS),
            target="api-version",
        )
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return azure_error(
            400, "InvalidRequest", f"The request body is not valid JSON: {error}", target="body"
        )
    if not isinstance(body, dict):
        return azure_error(400, "InvalidRequest", "The request body must be a JSON object")
    missing = [key for key in ("detectedProducts", "planogram") if body.get(key) is None]
    if missing:
        return azure_error(
            400,
            "InvalidRequest",
            f"The request body lacks {' and '.join(missing)}",
            target=missing[0],
            details=[
                {"code": "InvalidArgument", "message": "required", "target": key} for key in missing
            ],
        )
    try:
        detections = Detections.from_azure_result(body["detectedProducts"])
    except DetectionsFormatError as error:
        location, problem = _split_location(str(error))
        target = "detectedProducts" + (f".{location}" if location else "")
        return azure_error(
            400,
            "InvalidRequest",
            f"detectedProducts is invalid: {error}",
            target=target,
            details=[{"code": "InvalidArgument", "message": problem, "target": target}],
            inner_code="InvalidDetectedProducts",
        )
    try:
        planogram = load_planogram_document(body["planogram"])
        report = await run_in_threadpool(match_planogram, planogram, detections)
    except PlanogramError as error:
        details = [
            {
                "code": "InvalidArgument",
                "message": problem.problem,
                "target": f"planogram.{problem.location}",
            }
            for problem in error.problems
        ]
        return azure_error(
            400,
            "InvalidRequest",
            f"planogram is invalid: {error}",
            target=details[0]["target"] if details else "planogram",
            details=details,
            inner_code="InvalidPlanogram",
        )
    return matching_result_per_position(report)
