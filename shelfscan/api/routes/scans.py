"""Scans API: phone uploads of a bay, their status, report, annotated photo and evidence.

Every path starts with the store code and every query filters by it, so per-store access
control can be added as a dependency on ``store_code`` without reshaping anything. Errors are
``{"error": {"code": ..., "message": ..., "field": ...}}`` with a 4xx status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from shelfscan.api.multipart import (
    BodyTooLarge,
    MultipartError,
    Part,
    boundary_of,
    read_body,
    split_parts,
)
from shelfscan.db.models import PlanogramVersion, Scan
from shelfscan.db.session import session_factory
from shelfscan.imaging import (
    BayScale,
    CheckedPhoto,
    UploadLimits,
    UploadRejected,
    ValidatedPhoto,
    assess_quality,
    precheck_photo,
    validate_photo,
)
from shelfscan.jobs.analysis import evidence_boxes
from shelfscan.jobs.config import JobSettings
from shelfscan.jobs.prepare import quality_summary
from shelfscan.planogram.model import Planogram
from shelfscan.scans import (
    CreatedScan,
    ScanError,
    ScanTarget,
    annotated_key,
    check_idempotency_key,
    create_scan,
    error_code,
    evidence_key,
    find_by_idempotency_key,
    get_scan,
    is_upload_key,
    list_scans,
    resolve_target,
    retry_scan,
    utc,
)
from shelfscan.settings import Settings
from shelfscan.storage import ObjectNotFound, get_storage

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/stores/{store_code}", tags=["scans"])

MAX_PHOTOS = 8
PHOTO_FIELD = "photos"
LIMITS = UploadLimits()
# Decoding a 12 MP photo takes tens of MB; this many at once, however many uploads arrive.
_decode_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

T = TypeVar("T")


def error_response(
    code: str, message: str, status_code: int, field: str | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"error": {"code": code, "message": message, "field": field}},
    )


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@lru_cache(maxsize=1)
def _environment_job_settings() -> JobSettings:
    return JobSettings()


def upload_validation_mode(request: Request) -> str:
    """``fast`` or ``full`` (SHELFSCAN_UPLOAD_VALIDATION), as the app's runner was started."""
    jobs = getattr(request.app.state, "job_settings", None) or _environment_job_settings()
    return jobs.upload_validation


def _call(request: Request, work: Callable[[Any], T]) -> T:
    """Run ``work(session)`` with a session that is always closed."""
    session = session_factory(_settings(request).resolved_database_url)()
    try:
        return work(session)
    finally:
        session.close()


def _scan_url(request: Request, store_code: str, scan_id: str) -> str:
    # Built directly: ``url_for`` walks every route of the app, for each scan of a listing.
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}{router.prefix.format(store_code=quote(store_code, safe=''))}/scans/{scan_id}"


def scan_document(
    request: Request, store_code: str, bay_code: str | None, scan: Scan, *, full: bool = True
) -> dict[str, Any]:
    url = _scan_url(request, store_code, scan.id)
    document: dict[str, Any] = {
        "id": scan.id,
        "url": url,
        "store": store_code,
        "bay": bay_code,
        "status": scan.status,
        "attempts": scan.attempts,
        "error": scan.error,
        "error_code": error_code(scan),
        "taken_by": scan.taken_by,
        "planogram_version_id": scan.planogram_version_id,
        "created_at": _iso(scan.created_at),
        "updated_at": _iso(scan.updated_at),
        "started_at": _iso(scan.started_at),
        "finished_at": _iso(scan.finished_at),
        "deadline_at": _iso(scan.deadline_at),
        "photos": [
            {
                "index": photo.index,
                "url": f"{url}/photos/{photo.index}",
                "width": photo.width,
                "height": photo.height,
                "size_bytes": photo.size_bytes,
                "sha256": photo.sha256,
                "content_type": photo.content_type,
            }
            for photo in scan.photos
        ],
        "quality": scan.quality,
        "annotated_url": f"{url}/annotated.jpg" if scan.status == "done" else None,
    }
    if full:
        document["report"] = scan.report
        boxes = evidence_boxes(scan.report) if scan.report else {}
        document["evidence"] = {facing: f"{url}/evidence/{facing}.jpg" for facing in sorted(boxes)}
    return document


def _iso(value: datetime | None) -> str | None:
    stamp = utc(value)
    return stamp.isoformat().replace("+00:00", "Z") if stamp else None


@lru_cache(maxsize=64)
def _bay_scale(version_id: int, document_json: str) -> BayScale | None:
    try:
        return BayScale.from_planogram(Planogram.model_validate_json(document_json))
    except ValueError:
        return None


async def _read_multipart(request: Request, limit: int, max_parts: int) -> list[Part]:
    """The multipart body's parts, in memory: photos are at most 20 MB and validated from
    memory anyway. The body is capped at ``limit`` bytes and ``max_parts`` parts."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        raise ScanError(
            "no_photos",
            f"send the photos as multipart/form-data field {PHOTO_FIELD!r}",
            field="photos",
        )
    try:
        body = await read_body(request.stream(), limit)
        return split_parts(body, boundary, max_parts=max_parts)
    except BodyTooLarge as error:
        raise ScanError("request_too_large", f"request body {error}", status_code=413) from None
    except MultipartError as error:
        raise ScanError(
            "invalid_body", f"the multipart body is malformed: {error}", status_code=400
        ) from None


@router.post(
    "/bays/{bay_code}/scans",
    status_code=202,
    summary="Upload one or more photos of a bay; analysis runs in the background",
    responses={
        202: {"description": "Scan accepted (or the earlier scan for this Idempotency-Key)"},
        400: {"description": "Empty file, no photos, bad Idempotency-Key"},
        404: {"description": "Unknown store or bay"},
        409: {"description": "No planogram assigned, or Idempotency-Key used for another bay"},
        413: {"description": "File over 20 MB, too many photos, decompression bomb"},
        415: {"description": "Unsupported format or a content type that lies"},
        422: {"description": "Image too small/large, truncated or corrupt"},
    },
)
async def upload_scan(request: Request, store_code: str, bay_code: str) -> Response:
    settings = _settings(request)
    try:
        key = check_idempotency_key(request.headers.get("Idempotency-Key"))
        content_length = int(request.headers.get("content-length") or 0)
        body_limit = MAX_PHOTOS * LIMITS.max_bytes + 1024 * 1024
        if content_length > body_limit:
            raise ScanError(
                "request_too_large",
                f"request body of {content_length / 2**20:.0f} MB is over the limit of "
                f"{MAX_PHOTOS} photos × {LIMITS.max_bytes // 2**20} MB",
                status_code=413,
            )
        body_error: ScanError | None = None
        try:
            parts = await _read_multipart(request, body_limit, MAX_PHOTOS + 16)
        except ScanError as error:  # reported after an unknown store or bay, or a replay
            parts, body_error = [], error
        storage = get_storage(settings)
        full = upload_validation_mode(request) == "full"

        def accept(session: Any) -> CreatedScan:
            target, earlier = _target_and_replay(session, store_code, bay_code, key)
            if earlier is not None:
                return CreatedScan(earlier, created=False)
            if body_error is not None:
                raise body_error
            uploads, taken_by = _photo_parts(parts)
            raw = [_limited(part, index) for index, part in enumerate(uploads)]
            created = _check_and_create(
                session,
                storage,
                target,
                raw,
                full=full,
                scale=_scale_of(session, target) if full else None,
                key=key,
                taken_by=taken_by or None,
                deadline_s=settings.scan_deadline_s,
            )
            if created.created:
                _enqueue(request, created.scan.id)
            return created

        # One thread-pool hop and one database session for everything that blocks: the event
        # loop only moves bytes.
        created = await run_in_threadpool(_call, request, accept)
    except UploadRejected as rejected:
        return error_response(rejected.code, rejected.message, rejected.status_code, rejected.field)
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)
    return _accepted(request, store_code, bay_code, created.scan, created=created.created)


def warm_up(settings: Settings) -> None:
    """Load what the first upload would otherwise load: image plugins, the database pool's
    first connection and the look-up's compiled SQL. Failures are left to the requests."""
    import io

    from PIL import Image

    try:
        sample = io.BytesIO()
        Image.new("RGB", (64, 64)).save(sample, "JPEG")
        precheck_photo(sample.getvalue(), "image/jpeg", limits=UploadLimits(min_side=1))
        with session_factory(settings.resolved_database_url)() as session:
            resolve_target(session, "", "", idempotency_key="")
    except (ScanError, UploadRejected):
        pass
    except Exception:
        log.warning("upload path warm-up failed", exc_info=True)


def _photo_parts(parts: list[Part]) -> tuple[list[Part], str]:
    """The photo parts and the optional ``taken_by`` field, or the error naming what is off."""
    uploads = [part for part in parts if part.filename is not None]
    stray = [part.name for part in uploads if part.name != PHOTO_FIELD]
    if stray:
        raise ScanError(
            "unexpected_field",
            f"files must be sent in the {PHOTO_FIELD!r} field, not {stray[0]!r}",
            field=stray[0],
        )
    if not uploads:
        raise ScanError(
            "no_photos", f"send the photos as multipart field {PHOTO_FIELD!r}", field="photos"
        )
    if len(uploads) > MAX_PHOTOS:
        raise ScanError("too_many_photos", f"at most {MAX_PHOTOS} photos per scan", status_code=413)
    names = [part for part in parts if part.filename is None and part.name == "taken_by"]
    taken_by = bytes(names[0].data).decode("utf-8", "replace").strip()[:255] if names else ""
    return uploads, taken_by


def _target_and_replay(session: Any, store_code: str, bay_code: str, key: str | None) -> Any:
    target, earlier_id = resolve_target(session, store_code, bay_code, idempotency_key=key)
    earlier = (
        find_by_idempotency_key(session, target.store_id, key)
        if earlier_id is not None and key is not None
        else None
    )
    return target, earlier  # its photos came with it (selectinload)


def _scale_of(session: Any, target: ScanTarget) -> BayScale | None:
    version = session.get(PlanogramVersion, target.version_id)
    return _bay_scale(version.id, json.dumps(version.document))


def _check_and_create(
    session: Any,
    storage: Any,
    target: Any,
    raw: list[tuple[bytes, str | None, str, str]],
    *,
    full: bool,
    scale: BayScale | None,
    key: str | None,
    taken_by: str | None,
    deadline_s: float,
) -> Any:
    photos: list[ValidatedPhoto] | list[CheckedPhoto]
    quality: dict[str, Any] | None
    if full:
        photos, quality = _validate_all(raw, scale)
    else:
        # Structural checks only (well under a millisecond each): the worker decodes,
        # sanitises and assesses the photo, and fails the scan if it is damaged.
        photos, quality = _precheck_all(raw), None
    # ``target`` comes detached from the look-up session; create_scan only reads its ids.
    created = create_scan(
        session,
        storage,
        target,
        photos,
        idempotency_key=key,
        taken_by=taken_by,
        quality=quality,
        deadline_s=deadline_s,
        write_lock=_write_lock(session),
    )
    _ = created.scan.photos
    return created


def _limited(part: Part, index: int) -> tuple[bytes, str | None, str, str]:
    field = f"{PHOTO_FIELD}[{index}]"
    if len(part.data) > LIMITS.max_bytes:
        raise UploadRejected(
            "file_too_large",
            f"{field} ({part.filename}): over the {LIMITS.max_bytes // 2**20} MB limit",
            field=field,
            status_code=413,
        )
    return bytes(part.data), part.content_type, field, part.filename or ""


_sqlite_write_lock = threading.Lock()


def _write_lock(session: Any) -> Any:
    """SQLite allows one writer; threads queueing on a Python lock wait exactly as long as
    needed, where SQLite's own busy handler sleeps in steps of up to 100 ms."""
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_write_lock
    return contextlib.nullcontext()


def _validate_all(
    raw: list[tuple[bytes, str | None, str, str]], scale: BayScale | None
) -> tuple[list[ValidatedPhoto], dict[str, Any]]:
    photos: list[ValidatedPhoto] = []
    per_photo: list[dict[str, Any]] = []
    for data, content_type, field, filename in raw:
        with _decode_slots:
            photo = validate_photo(
                data, content_type, field_name=field, filename=filename or None, limits=LIMITS
            )
        photos.append(photo)
        quality = assess_quality(
            photo.preview,
            full_width=photo.width,
            full_height=photo.height,
            bay=scale,
            photo=field,
        )
        per_photo.append(quality.as_dict())
    return photos, quality_summary(per_photo)


def _precheck_all(raw: list[tuple[bytes, str | None, str, str]]) -> list[CheckedPhoto]:
    return [
        precheck_photo(
            data, content_type, field_name=field, filename=filename or None, limits=LIMITS
        )
        for data, content_type, field, filename in raw
    ]


def _enqueue(request: Request, scan_id: str) -> None:
    queue = getattr(request.app.state, "scan_queue", None)
    if queue is None:
        log.warning("no scan runner in this app; the scan waits in the database")
        return
    try:
        queue.enqueue(scan_id)
    except Exception:  # the broker is down: the scan is safe in the database, the reaper resends
        log.exception("could not enqueue scan", extra={"scan_id": scan_id})


def _accepted(
    request: Request, store_code: str, bay_code: str, scan: Scan, *, created: bool
) -> JSONResponse:
    document = scan_document(request, store_code, bay_code, scan, full=False)
    document["created"] = created
    headers = {"Location": document["url"]}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(status_code=202, content=document, headers=headers)


@router.get("/scans", summary="List scans of a store, newest first")
def list_scans_route(
    request: Request,
    store_code: str,
    bay: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: str = "50",
    offset: str = "0",
) -> Response:
    try:
        bounds = {
            name: _parse_time(name, value) for name, value in (("since", since), ("until", until))
        }
        page_limit = _parse_int("limit", limit, 1, 500)
        page_offset = _parse_int("offset", offset, 0, 10**9)

        def work(session: Any) -> dict[str, Any]:
            page = list_scans(
                session,
                store_code,
                bay_code=bay,
                status=status,
                since=bounds["since"],
                until=bounds["until"],
                limit=page_limit,
                offset=page_offset,
            )
            return {
                "total": page.total,
                "limit": page_limit,
                "offset": page_offset,
                "scans": [
                    scan_document(
                        request, store_code, page.bay_codes.get(scan.bay_id), scan, full=False
                    )
                    for scan in page.scans
                ],
            }

        return JSONResponse(_call(request, work))
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ScanError(
            "invalid_query",
            f"{name} must be an ISO 8601 date or date-time, not {value!r}",
            status_code=422,
            field=name,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ScanError(
            "invalid_query",
            f"{name} must be a whole number from {low} to {high}, not {value!r}",
            status_code=422,
            field=name,
        )
    return number


def _load_scan(request: Request, store_code: str, scan_id: str) -> tuple[str | None, Scan]:
    from shelfscan.db.models import Bay

    def work(session: Any) -> tuple[str | None, Scan]:
        _, scan = get_scan(session, store_code, scan_id)
        _ = scan.photos
        bay_code = session.get(Bay, scan.bay_id).code
        return bay_code, scan

    return _call(request, work)


@router.get("/scans/{scan_id}", name="get_scan_route", summary="A scan's status and report")
def get_scan_route(request: Request, store_code: str, scan_id: str) -> Response:
    try:
        bay_code, scan = _load_scan(request, store_code, scan_id)
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)
    return JSONResponse(scan_document(request, store_code, bay_code, scan))


def _image(request: Request, key: str, what: str) -> Response:
    try:
        data = get_storage(_settings(request)).get(key)
    except ObjectNotFound:
        return error_response("not_found", f"no {what}", 404)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


def _done_scan(request: Request, store_code: str, scan_id: str) -> Scan | Response:
    try:
        _, scan = _load_scan(request, store_code, scan_id)
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)
    if scan.status != "done":
        return error_response(
            "scan_not_ready", f"the scan is {scan.status}; results exist once it is done", 409
        )
    return scan


@router.get(
    "/scans/{scan_id}/annotated.jpg",
    summary="The photo with planogram facings coloured ok/gap/misplaced, legend included",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def annotated_route(request: Request, store_code: str, scan_id: str, photo: int = 0) -> Response:
    scan = _done_scan(request, store_code, scan_id)
    if isinstance(scan, Response):
        return scan
    return _image(request, annotated_key(store_code, scan.id, photo), "annotated photo")


@router.get(
    "/scans/{scan_id}/photos/{index}",
    summary="The stored photo (upright, without personal metadata)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def photo_route(request: Request, store_code: str, scan_id: str, index: int) -> Response:
    try:
        _, scan = _load_scan(request, store_code, scan_id)
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)
    photos = {photo.index: photo for photo in scan.photos}
    if index not in photos:
        return error_response("not_found", f"the scan has no photo {index}", 404)
    if is_upload_key(photos[index].storage_key):
        # Still the phone's bytes, GPS and all: only the worker's clean copy is ever served.
        return error_response(
            "photo_not_ready", f"photo {index} is still being checked; try again shortly", 409
        )
    return _image(request, photos[index].storage_key, f"photo {index}")


@router.get(
    "/scans/{scan_id}/evidence/{facing_id}.jpg",
    summary="A crop of the photo around one facing with a problem",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def evidence_route(request: Request, store_code: str, scan_id: str, facing_id: str) -> Response:
    scan = _done_scan(request, store_code, scan_id)
    if isinstance(scan, Response):
        return scan
    return _image(
        request, evidence_key(store_code, scan.id, facing_id), f"evidence for {facing_id!r}"
    )


@router.post("/scans/{scan_id}/retry", status_code=202, summary="Queue a failed scan again")
def retry_route(request: Request, store_code: str, scan_id: str) -> Response:
    deadline = _settings(request).scan_deadline_s

    def work(session: Any) -> tuple[str | None, Scan]:
        from shelfscan.db.models import Bay

        scan = retry_scan(session, store_code, scan_id, deadline_s=deadline)
        _ = scan.photos
        return session.get(Bay, scan.bay_id).code, scan

    try:
        bay_code, scan = _call(request, work)
    except ScanError as error:
        return error_response(error.code, error.message, error.status_code, error.field)
    _enqueue(request, scan.id)
    return JSONResponse(
        status_code=202, content=scan_document(request, store_code, bay_code, scan, full=False)
    )
