"""Azure-compatible planogram matching: ``POST /computervision/planogramcompliance:match``.

A drop-in for the retired Azure Product Recognition preview endpoint: the same body
(``{detectedProducts, planogram}``), the same ``api-version`` query, the
``Ocp-Apim-Subscription-Key`` header accepted, the same ``matchingResultPerPosition`` answer,
and Azure-style errors (``{"error": {code, message, target, details, innererror}}`` with an
``x-ms-error-code`` header).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from shelfscan.api.heavy_tasks import azure_invalid as _invalid
from shelfscan.api.heavy_tasks import match_body
from shelfscan.api.limits import app_settings, heavy_work, planogram_limits

SUPPORTED_API_VERSIONS = ("2023-04-01-preview",)
MATCH_PATH = "/computervision/planogramcompliance:match"

router = APIRouter(tags=["planogram compliance (Azure compatible)"])


class MatchResultOut(BaseModel):
    """Azure's answer: one entry per planogram position (facing)."""

    model_config = ConfigDict(extra="allow")

    matchingResultPerPosition: list[dict[str, Any]]


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
) -> Response:
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
    # Decoded, validated, matched and encoded in the heavy-work pool (a worker process).
    answer = await heavy_work(request.app.state).run(
        "matching", match_body, raw, planogram_limits(app_settings(request.app.state))
    )
    return Response(content=answer, media_type="application/json")
