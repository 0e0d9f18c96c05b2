"""Planograms: import (any supported format), validate, versions, export, render."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shelfscan.api import heavy_tasks
from shelfscan.api.deps import DbSession, SettingsDep
from shelfscan.api.limits import heavy_work, planogram_limits
from shelfscan.api.schemas import MAX_VERSION, PlanogramSummary, PlanogramVersionOut, ValidationOut
from shelfscan.auth.audit import record as audit_record
from shelfscan.db import models
from shelfscan.planogram.azure_json import export_azure_planogram
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import Planogram
from shelfscan.planogram.publication import PreparedPlanogram
from shelfscan.services.stores import (
    get_planogram_version,
    list_planograms,
    list_versions,
    planogram_from_version,
    publish_prepared,
)
from shelfscan.settings import Settings

router = APIRouter(prefix="/api/v1/planograms", tags=["planograms"])

IdQuery = Annotated[
    str | None,
    Query(max_length=128, description="Planogram id for formats that carry none (Azure JSON)"),
]
FormatQuery = Annotated[
    str | None,
    Query(description="canonical, azure, psa, csv or xlsx; default: from the file name/content"),
]
VersionQuery = Annotated[
    int | None, Query(ge=1, le=MAX_VERSION, description="Default: the latest version")
]

_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "description": "The planogram file as the raw body, or as multipart field `file`.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


async def _read_upload(request: Request) -> tuple[bytes, str | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise PlanogramError([Problem("file", "multipart field 'file' is missing")])
        return await upload.read(), upload.filename
    return await request.body(), None


async def _validate(
    request: Request, settings: Settings, format_name: str | None, planogram_id: str | None
) -> str:
    """Read and validate the uploaded planogram in the heavy-work pool (within the request's
    time budget); every problem found is raised at once, size limits as 413. Its format."""
    data, filename = await _read_upload(request)
    source_format, _ = await heavy_work(request.app.state).run(
        "reading and validating the planogram",
        heavy_tasks.read_planogram,
        data,
        format=format_name,
        filename=filename,
        planogram_id=planogram_id,
        limits=planogram_limits(settings),
        want_document=False,
    )
    return source_format


async def _prepare(
    request: Request, settings: Settings, format_name: str | None, planogram_id: str | None
) -> tuple[PreparedPlanogram, str]:
    """As :func:`_validate`, and the pool also dumps, hashes and encodes it for publishing:
    the server process never rebuilds or re-encodes the planogram (a 20,000-position one held
    the GIL, and ``/healthz``, for up to a second)."""
    data, filename = await _read_upload(request)
    source_format, prepared = await heavy_work(request.app.state).run(
        "reading and validating the planogram",
        heavy_tasks.prepare_planogram,
        data,
        format=format_name,
        filename=filename,
        planogram_id=planogram_id,
        limits=planogram_limits(settings),
    )
    return prepared, source_format


def _version_out(version: models.PlanogramVersion) -> PlanogramVersionOut:
    """A stored version's summary (its planogram rebuilt from the stored document)."""
    planogram = planogram_from_version(version)
    return _summary(version, planogram.id, planogram.name, _counts(planogram))


def _counts(planogram: Planogram) -> dict[str, int]:
    return {
        "positions": len(planogram.positions),
        "facings": len(planogram.facings()),
        "products": len(planogram.products),
        "fixtures": len(planogram.fixtures),
    }


def _summary(
    version: models.PlanogramVersion, key: str, name: str | None, counts: dict[str, int]
) -> PlanogramVersionOut:
    return PlanogramVersionOut(
        planogram=key,
        name=name,
        version=version.version,
        sha256=version.sha256,
        source_format=version.source_format,
        comment=version.comment,
        created_at=version.created_at,
        **counts,
    )


@router.post(
    "",
    status_code=201,
    response_model=PlanogramVersionOut,
    summary="Import and publish a planogram (a new version when its id exists)",
    openapi_extra=_IMPORT_BODY,
    responses={422: {"description": "Every problem found, each with its location"}},
)
async def import_planogram(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    format: FormatQuery = None,
    id: IdQuery = None,
    comment: Annotated[str | None, Query(max_length=2000)] = None,
) -> PlanogramVersionOut:
    prepared, source_format = await _prepare(request, settings, format, id)
    actor = getattr(getattr(request.state, "principal", None), "actor", None)

    def publish_and_record() -> PlanogramVersionOut:
        # Only database work here (the worker validated, dumped, hashed and encoded it), all
        # of it in this thread: on SQLite a write on the event loop (the audit row's flush)
        # would wait for a lock that another request's commit, scheduled by that same loop,
        # can never release.
        version = publish_prepared(session, prepared, source_format=source_format, comment=comment)
        audit_record(
            session,
            "planogram_published",
            actor=actor,
            target=f"planogram:{prepared.key}@{version.version}",
        )
        counts = {
            "positions": prepared.positions,
            "facings": prepared.facings,
            "products": len(prepared.products),
            "fixtures": prepared.fixtures,
        }
        return _summary(version, prepared.key, prepared.name, counts)

    return await run_in_threadpool(publish_and_record)


@router.post(
    ":validate",
    response_model=ValidationOut,
    summary="Validate a planogram without storing it",
    openapi_extra=_IMPORT_BODY,
    responses={422: {"description": "Every problem found, each with its location"}},
)
async def validate_only(
    request: Request, settings: SettingsDep, format: FormatQuery = None, id: IdQuery = None
) -> ValidationOut:
    await _validate(request, settings, format, id)
    return ValidationOut(valid=True, problems=[])


@router.get("", response_model=list[PlanogramSummary], summary="List planograms")
def list_all(session: DbSession) -> list[PlanogramSummary]:
    return [
        PlanogramSummary(planogram=record.key, name=record.name, latest_version=latest)
        for record, latest in list_planograms(session)
    ]


@router.get("/{key}", response_model=Planogram, summary="A planogram version as canonical JSON")
def get_planogram(key: str, session: DbSession, version: VersionQuery = None) -> JSONResponse:
    found = get_planogram_version(session, key, version)
    return JSONResponse(
        content=found.document,
        headers={"X-Planogram-Version": str(found.version), "ETag": f'"{found.sha256}"'},
    )


@router.get("/{key}/versions", response_model=list[PlanogramVersionOut], summary="All versions")
def versions(key: str, session: DbSession) -> list[PlanogramVersionOut]:
    return [_version_out(v) for v in list_versions(session, key)]


@router.get(
    "/{key}/export",
    response_model=dict[str, Any],
    summary="Export as canonical or Azure planogram JSON",
)
def export(
    key: str,
    session: DbSession,
    version: VersionQuery = None,
    format: Annotated[str, Query(pattern="^(canonical|azure)$")] = "canonical",
) -> JSONResponse:
    found = get_planogram_version(session, key, version)
    planogram = planogram_from_version(found)
    content = found.document if format == "canonical" else export_azure_planogram(planogram)
    filename = f"{key}-v{found.version}-{format}.json"
    return JSONResponse(
        content=content, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(
    "/{key}/render.png",
    summary="The planogram drawn as a PNG",
    response_class=Response,
    responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
)
def render(
    key: str,
    session: DbSession,
    settings: SettingsDep,
    version: VersionQuery = None,
    width: Annotated[int, Query(ge=100, le=4000)] = 1000,
) -> Response:
    from shelfscan.planogram.render import render_planogram

    planogram = planogram_from_version(get_planogram_version(session, key, version))
    image = render_planogram(planogram, packshot_dir=settings.packshot_dir, width_px=width)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return Response(content=buffer.getvalue(), media_type="image/png")
