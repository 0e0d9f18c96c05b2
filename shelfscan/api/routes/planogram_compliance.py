"""Azure-compatible planogram matching: ``POST /computervision/planogramcompliance:match``.

A drop-in for the retired Azure Product Recognition preview endpoint: the same body
(``{detectedProducts, planogram}``), the same ``api-version`` query, the
``Ocp-Apim-Subscription-Key`` header accepted, the same ``matchingResultPerPosition`` answer,
and Azure-style errors (``{"error": {code, message, target, details, innererror}}`` with an
``x-ms-error-code`` header).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from shelfscan.api.limits import app_settings, heavy_work, planogram_limits
from shelfscan.compliance.azure_compat import matching_result_per_position
from shelfscan.compliance.engine import match_planogram
from shelfscan.detections import Detections, DetectionsFormatError
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.limits import PlanogramLimits, PlanogramTooLarge
from shelfscan.planogram.loader import load_planogram_document
from shelfscan.safe_json import JsonRejected, loads_bounded
from shelfscan.services.errors import ShelfscanError

SUPPORTED_API_VERSIONS = ("2023-04-01-preview",)
MATCH_PATH = "/computervision/planogramcompliance:match"

router = APIRouter(tags=["planogram compliance (Azure compatible)"])


class MatchResultOut(BaseModel):
    """Azure's answer: one entry per planogram position (facing)."""

    model_config = ConfigDict(extra="allow")

    matchingResultPerPosition: list[dict[str, Any]]


def _invalid(
    code: str,
    message: str,
    *,
    target: str | None = None,
    details: list[dict[str, Any]] | None = None,
    inner_code: str | None = None,
) -> ShelfscanError:
    """A 400 in Azure's terms; this API's ``x-ms-error-code`` is the top-level code."""
    return ShelfscanError(
        code,
        message,
        field=target,
        details=details,
        inner_code=inner_code,
        header_code=code,
        http_status=400,
    )


def _split_location(text: str) -> tuple[str | None, str]:
    location, sep, problem = text.partition(": ")
    return (location, problem) if sep else (None, text)


@router.post(
    MATCH_PATH,
    summary="Match detected products against a planogram (Azure-compatible)",
    response_model=MatchResultOut,
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
) -> JSONResponse:
    if api_version is None:
        raise _invalid(
            "MissingApiVersionParameter",
            "The api-version query parameter is required; supported: "
            + ", ".join(SUPPORTED_API_VERSIONS),
            target="api-version",
        )
    if api_version not in SUPPORTED_API_VERSIONS:
        raise _invalid(
            "UnsupportedApiVersionValue",
            f"Unsupported api-version {api_version!r}; supported: "
            + ", ".join(SUPPORTED_API_VERSIONS),
            target="api-version",
        )
    raw = await request.body()
    return await heavy_work(request.app.state).run(
        "matching", _match, raw, planogram_limits(app_settings(request.app.state))
    )


def _match(raw: bytes, limits: PlanogramLimits) -> JSONResponse:
    """Decode (bounded), validate and match: CPU work, run in the heavy-work pool."""
    try:
        # Non-finite numbers are kept so that validation names the field that holds them.
        body = loads_bounded(
            raw,
            max_depth=limits.max_json_depth,
            max_number_digits=limits.max_number_digits,
            allow_non_finite=True,
        )
    except JsonRejected as error:
        raise _invalid(
            "InvalidRequest",
            f"The request body is not valid JSON at {error.location}: {error.problem}",
            target="body",
        ) from None
    if not isinstance(body, dict):
        raise _invalid("InvalidRequest", "The request body must be a JSON object")
    missing = [key for key in ("detectedProducts", "planogram") if body.get(key) is None]
    if missing:
        raise _invalid(
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
        raise _invalid(
            "InvalidRequest",
            f"detectedProducts is invalid: {error}",
            target=target,
            details=[{"code": "InvalidArgument", "message": problem, "target": target}],
            inner_code="InvalidDetectedProducts",
        ) from error
    try:
        planogram = load_planogram_document(body["planogram"], limits=limits)
        report = match_planogram(planogram, detections)
    except PlanogramError as error:
        details = [
            {
                "code": "InvalidArgument",
                "message": problem.problem,
                "target": f"planogram.{problem.location}",
            }
            for problem in error.problems
        ]
        refusal = _invalid(
            "InvalidRequest",
            f"planogram is invalid: {error}",
            target=details[0]["target"] if details else "planogram",
            details=details,
            inner_code="InvalidPlanogram",
        )
        if isinstance(error, PlanogramTooLarge):  # a size limit, named in the message
            refusal.code = refusal.header_code = "PayloadTooLarge"
            refusal.inner_code = "PlanogramTooLarge"
            refusal.http_status = 413  # type: ignore[misc]
        raise refusal from error
    # Serialised here, in the pool: 20,000 positions' answer would otherwise be validated and
    # encoded on the event loop.
    return JSONResponse(matching_result_per_position(report))
