"""Scans API: phone uploads of a bay, their status, report, annotated photo and evidence.

Every path starts with the store code and every query filters by it, so per-store access
control can be added as a dependency on ``store_code`` without reshaping anything. Errors are
``{"error": {"code": ..., "message": ..., "field": ...}}`` with a 4xx status, rendered by the
app's exception handlers from the services' errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shelfscan.api.multipart import (
    BodyTooLarge,
    MultipartError,
    Part,
    boundary_of,
    read_body,
    split_parts,
)
from shelfscan.api.schemas import (
    ActionOut,
    EvidenceOut,
    ScanAcceptedOut,
    ScanOut,
    ScanPageOut,
    ScanPhotoOut,
    ScanSummaryOut,
)
from shelfscan.db.models import Bay, Scan
from shelfscan.db.session import session_factory
from shelfscan.imaging import UploadLimits, UploadRejected, precheck_photo
from shelfscan.services.errors import BadRequest, NotFound, ShelfscanError, TooLarge
from shelfscan.services.scans import (
    ScanStatus,
    annotated_key,
    check_idempotency_key,
    compliance_report,
    error_code,
    evidence_boxes,
    evidence_key,
    get_scan,
    is_upload_key,
    list_scans,
    overview_key,
    report_history,
    report_version,
    require_done,
    resolve_target,
    retry_scan,
)
from shelfscan.services.uploads import (
    LIMITS,
    PhotosReceived,
    RawPhoto,
    accept_added_photos,
    accept_upload,
)
from shelfscan.settings import Settings
from shelfscan.storage import ObjectNotFound, get_storage

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/stores/{store_code}", tags=["scans"])

MAX_PHOTOS = 8
PHOTO_FIELD = "photos"
JPEG = {200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}

T = TypeVar("T")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def upload_validation_mode(request: Request) -> str:
    """``fast`` or ``full`` (SHELFSCAN_UPLOAD_VALIDATION), as the app was configured."""
    return _settings(request).upload_validation


def _call(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` with a session that is always closed."""
    session = session_factory(_settings(request).resolved_database_url)()
    try:
        return work(session)
    finally:
        session.close()


async def accept_in_turn(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in the thread pool once one of the app's upload slots is free
    (SHELFSCAN_UPLOAD_ACCEPT_SLOTS). A burst of 50 uploads otherwise put 40 threads on the GIL
    together, each with its own database connection: switching between them cost more than
    the accepting itself. The wait is on the event loop, so waiting uploads hold no thread
    that probes and other requests need."""
    state = request.app.state
    # An asyncio semaphore belongs to one event loop, and an app may serve several (tests).
    slots_by_loop = getattr(state, "upload_slots", None)
    if slots_by_loop is None:
        slots_by_loop = state.upload_slots = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    slots = slots_by_loop.get(loop)
    if slots is None:  # runs on the loop itself: no other task can add one meanwhile
        slots = slots_by_loop[loop] = asyncio.Semaphore(_settings(request).upload_accept_slots)
    async with slots:
        return await run_in_threadpool(_call, request, work)


def _scan_url(request: Request, store_code: str, scan_id: str) -> str:
    # Built directly: ``url_for`` walks every route of the app, for each scan of a listing.
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}{router.prefix.format(store_code=quote(store_code, safe=''))}/scans/{scan_id}"


def _summary(request: Request, store_code: str, bay_code: str | None, scan: Scan) -> dict[str, Any]:
    url = _scan_url(request, store_code, scan.id)
    return {
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
        "created_at": scan.created_at,
        "updated_at": scan.updated_at,
        "started_at": scan.started_at,
        "finished_at": scan.finished_at,
        "deadline_at": scan.deadline_at,
        "photos": [
            ScanPhotoOut(
                index=photo.index,
                url=f"{url}/photos/{photo.index}",
                width=photo.width,
                height=photo.height,
                size_bytes=photo.size_bytes,
                sha256=photo.sha256,
                content_type=photo.content_type,
            )
            for photo in scan.photos
        ],
        "quality": scan.quality,
        "annotated_url": f"{url}/annotated.jpg" if scan.status == ScanStatus.DONE else None,
    }


def scan_summary(
    request: Request, store_code: str, bay_code: str | None, scan: Scan
) -> ScanSummaryOut:
    return ScanSummaryOut(**_summary(request, store_code, bay_code, scan))


def scan_out(request: Request, store_code: str, bay_code: str | None, scan: Scan) -> ScanOut:
    summary = _summary(request, store_code, bay_code, scan)
    report = compliance_report(scan.report) if scan.report else None
    trust = report.trust if report is not None else None
    if scan.status == ScanStatus.INCONCLUSIVE:
        # The verdicts of a photo that does not show this bay are made up: none is shown.
        return ScanOut(**summary, report=None, evidence={}, actions=[], trust=trust)
    boxes = evidence_boxes(report) if report is not None else {}
    evidence = {facing: f"{summary['url']}/evidence/{facing}.jpg" for facing in sorted(boxes)}
    crops = dict(evidence)
    for item in report.unexpected if report is not None else []:
        key = f"detection-{item.detection_id}"
        crops[item.detection_id] = f"{summary['url']}/evidence/{quote(key, safe='')}.jpg"
    actions = [
        ActionOut(
            **action.model_dump(),
            evidence=[
                EvidenceOut(id=key if key in evidence else f"detection-{key}", url=crops[key])
                for key in [*action.facing_ids, *action.detection_ids]
                if key in crops
            ],
        )
        for action in (report.actions if report is not None else [])
    ]
    return ScanOut(**summary, report=scan.report, evidence=evidence, actions=actions, trust=trust)


@dataclass(frozen=True)
class _Body:
    """A multipart body as received: split into its parts where the upload is accepted (a
    worker thread), not on the event loop."""

    chunks: list[bytes]
    boundary: bytes
    max_parts: int

    def parts(self) -> list[Part]:
        try:
            return split_parts(self.chunks, self.boundary, max_parts=self.max_parts)
        except (BodyTooLarge, MultipartError) as error:
            raise _refusal(error) from None


def _refusal(error: BodyTooLarge | MultipartError) -> ShelfscanError:
    """The answer to a body over its limits or not well-formed, wherever it was found."""
    if isinstance(error, BodyTooLarge):
        return TooLarge("request_too_large", f"request body {error}")
    return BadRequest("invalid_body", f"the multipart body is malformed: {error}")


async def _read_multipart(request: Request, limit: int, max_parts: int) -> _Body:
    """The multipart body, in memory: photos are at most 20 MB and validated from memory
    anyway. The body is capped at ``limit`` bytes and ``max_parts`` parts."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        raise BadRequest(
            "no_photos",
            f"send the photos as multipart/form-data field {PHOTO_FIELD!r}",
            field="photos",
        )
    try:
        chunks = await read_body(request.stream(), limit)
    except BodyTooLarge as error:
        raise _refusal(error) from None
    return _Body(chunks, boundary, max_parts)


@router.post(
    "/bays/{bay_code}/scans",
    status_code=202,
    response_model=ScanAcceptedOut,
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
async def upload_scan(request: Request, store_code: str, bay_code: str) -> JSONResponse:
    with _receiving_upload(request):
        return await _upload_scan(request, store_code, bay_code)


def _receiving_upload(request: Request) -> contextlib.AbstractContextManager[None]:
    """Counted while an upload is received and accepted: the one-machine runners start no
    scan meanwhile (``shelfscan.jobs.gate``)."""
    gate = getattr(getattr(request.app.state, "scan_queue", None), "gate", None)
    return gate.upload() if gate is not None else contextlib.nullcontext()


async def _upload_scan(request: Request, store_code: str, bay_code: str) -> JSONResponse:
    settings = _settings(request)
    key = check_idempotency_key(request.headers.get("Idempotency-Key"))
    content_length = int(request.headers.get("content-length") or 0)
    body_limit = MAX_PHOTOS * LIMITS.max_bytes + 1024 * 1024
    if content_length > body_limit:
        raise TooLarge(
            "request_too_large",
            f"request body of {content_length / 2**20:.0f} MB is over the limit of "
            f"{MAX_PHOTOS} photos × {LIMITS.max_bytes // 2**20} MB",
        )
    body: _Body | ShelfscanError
    try:
        body = await _read_multipart(request, body_limit, MAX_PHOTOS + 16)
    except ShelfscanError as error:  # reported after an unknown store or bay, or a replay
        body = error
    storage = get_storage(settings)
    associate = getattr(getattr(request.state, "principal", None), "associate", None)

    def receive() -> PhotosReceived:
        if isinstance(body, ShelfscanError):
            raise body
        received = _photos_of(body.parts())
        if received.taken_by is None and associate:  # a store phone: who is using it now
            return replace(received, taken_by=associate)
        return received

    def accept(session: Session) -> Any:
        created = accept_upload(
            session,
            storage,
            store_code,
            bay_code,
            idempotency_key=key,
            receive=receive,
            full_validation=upload_validation_mode(request) == "full",
            deadline_s=settings.scan_deadline_s,
        )
        if created.created:
            _enqueue(request, created.scan.id)
        return created

    # One thread-pool hop and one database session for everything that blocks: the event
    # loop only moves bytes.
    created = await accept_in_turn(request, accept)
    document = ScanAcceptedOut(
        **_summary(request, store_code, bay_code, created.scan), created=created.created
    )
    headers = {"Location": document.url}
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(status_code=202, content=document.model_dump(mode="json"), headers=headers)


def warm_up(settings: Settings) -> None:
    """Load what the first upload would otherwise load: image plugins, the database pool's
    first connection and the look-up's compiled SQL. Failures are left to the requests."""
    import io

    from PIL import Image

    # Local storage starts making its spare files now, before the first burst of uploads.
    spares = getattr(get_storage(settings), "spares", None)
    if spares is not None:
        spares.start()
    try:
        sample = io.BytesIO()
        Image.new("RGB", (64, 64)).save(sample, "JPEG")
        precheck_photo(sample.getvalue(), "image/jpeg", limits=UploadLimits(min_side=1))
        with session_factory(settings.resolved_database_url)() as session:
            resolve_target(session, "", "", idempotency_key="")
    except ShelfscanError:
        pass
    except Exception:
        log.warning("upload path warm-up failed", exc_info=True)


def _photos_of(parts: list[Part]) -> PhotosReceived:
    """The photo parts and the optional ``taken_by`` field, or the error naming what is off."""
    uploads = [part for part in parts if part.filename is not None]
    stray = [part.name for part in uploads if part.name != PHOTO_FIELD]
    if stray:
        raise BadRequest(
            "unexpected_field",
            f"files must be sent in the {PHOTO_FIELD!r} field, not {stray[0]!r}",
            field=stray[0],
        )
    if not uploads:
        raise BadRequest(
            "no_photos", f"send the photos as multipart field {PHOTO_FIELD!r}", field="photos"
        )
    if len(uploads) > MAX_PHOTOS:
        raise TooLarge("too_many_photos", f"at most {MAX_PHOTOS} photos per scan")
    names = [part for part in parts if part.filename is None and part.name == "taken_by"]
    taken_by = names[0].data.decode("utf-8", "replace").strip()[:255] if names else ""
    photos = [_raw_photo(part, index) for index, part in enumerate(uploads)]
    return PhotosReceived(photos=photos, taken_by=taken_by or None)


def _raw_photo(part: Part, index: int) -> RawPhoto:
    field = f"{PHOTO_FIELD}[{index}]"
    if len(part.data) > LIMITS.max_bytes:
        raise UploadRejected(
            "file_too_large",
            f"{field} ({part.filename}): over the {LIMITS.max_bytes // 2**20} MB limit",
            field=field,
            status_code=413,
        )
    return RawPhoto(part.data, part.content_type, field, part.filename or "")


def _enqueue(request: Request, scan_id: str) -> None:
    queue = getattr(request.app.state, "scan_queue", None)
    if queue is None:
        log.warning("no scan runner in this app; the scan waits in the database")
        return
    try:
        queue.enqueue(scan_id)
    except Exception:  # the broker is down: the scan is safe in the database, the reaper resends
        log.exception("could not enqueue scan", extra={"scan_id": scan_id})


@router.get("/scans", response_model=ScanPageOut, summary="List scans of a store, newest first")
def list_scans_route(
    request: Request,
    store_code: str,
    bay: str | None = None,
    status: ScanStatus | None = None,
    since: Annotated[
        datetime | None, Query(description="ISO 8601; inclusive; without a zone: UTC")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="ISO 8601; exclusive; without a zone: UTC")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> ScanPageOut:
    def work(session: Session) -> ScanPageOut:
        page = list_scans(
            session,
            store_code,
            bay_code=bay,
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return ScanPageOut(
            total=page.total,
            limit=limit,
            offset=offset,
            scans=[
                scan_summary(request, store_code, page.bay_codes.get(scan.bay_id), scan)
                for scan in page.scans
            ],
        )

    return _call(request, work)


def _load_scan(request: Request, store_code: str, scan_id: str) -> tuple[str | None, Scan]:
    def work(session: Session) -> tuple[str | None, Scan]:
        _, scan = get_scan(session, store_code, scan_id)
        _ = scan.photos
        bay = session.get(Bay, scan.bay_id)
        return (bay.code if bay else None), scan

    return _call(request, work)


@router.get(
    "/scans/{scan_id}",
    name="get_scan_route",
    response_model=ScanOut,
    summary="A scan's status and report",
)
def get_scan_route(request: Request, store_code: str, scan_id: str) -> ScanOut:
    bay_code, scan = _load_scan(request, store_code, scan_id)
    return scan_out(request, store_code, bay_code, scan)


def _image(request: Request, key: str, what: str) -> Response:
    try:
        data = get_storage(_settings(request)).get(key)
    except ObjectNotFound:
        raise NotFound("not_found", f"no {what}") from None
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get(
    "/scans/{scan_id}/annotated.jpg",
    summary="The photo with planogram facings coloured ok/gap/misplaced, legend included",
    response_class=Response,
    responses=JPEG,
)
def annotated_route(request: Request, store_code: str, scan_id: str, photo: int = 0) -> Response:
    scan = require_done(_load_scan(request, store_code, scan_id)[1])
    return _image(request, annotated_key(store_code, scan.id, photo), "annotated photo")


@router.get(
    "/scans/{scan_id}/photos/{index}",
    summary="The stored photo (upright, without personal metadata)",
    response_class=Response,
    responses=JPEG,
)
def photo_route(request: Request, store_code: str, scan_id: str, index: int) -> Response:
    _, scan = _load_scan(request, store_code, scan_id)
    photos = {photo.index: photo for photo in scan.photos}
    if index not in photos:
        raise NotFound("not_found", f"the scan has no photo {index}")
    if is_upload_key(photos[index].storage_key):
        # Still the phone's bytes, GPS and all: only the worker's clean copy is ever served.
        raise ShelfscanError(
            "photo_not_ready",
            f"photo {index} is still being checked; try again shortly",
            http_status=409,
        )
    return _image(request, photos[index].storage_key, f"photo {index}")


@router.get(
    "/scans/{scan_id}/evidence/{facing_id}.jpg",
    summary="A crop of the photo around one facing with a problem",
    response_class=Response,
    responses=JPEG,
)
def evidence_route(request: Request, store_code: str, scan_id: str, facing_id: str) -> Response:
    scan = require_done(_load_scan(request, store_code, scan_id)[1])
    return _image(
        request, evidence_key(store_code, scan.id, facing_id), f"evidence for {facing_id!r}"
    )


@router.post(
    "/scans/{scan_id}/retry",
    status_code=202,
    response_model=ScanSummaryOut,
    summary="Queue a failed scan again",
)
def retry_route(request: Request, store_code: str, scan_id: str) -> ScanSummaryOut:
    deadline = _settings(request).scan_deadline_s

    def work(session: Session) -> ScanSummaryOut:
        scan = retry_scan(session, store_code, scan_id, deadline_s=deadline)
        bay = session.get(Bay, scan.bay_id)
        return scan_summary(request, store_code, bay.code if bay else None, scan)

    summary = _call(request, work)
    _enqueue(request, summary.id)
    return summary


@router.post(
    "/scans/{scan_id}/photos",
    status_code=202,
    response_model=ScanAcceptedOut,
    summary="Add photos to a finished scan of a long bay; it is analysed again to one report",
    responses={
        202: {"description": "Queued again (or unchanged: a replayed Idempotency-Key)"},
        404: {"description": "Unknown store or scan"},
        409: {"description": "The scan is not finished, or the Idempotency-Key was reused"},
        413: {"description": "Over 8 photos per scan, or a file over 20 MB"},
    },
)
async def add_photos_route(request: Request, store_code: str, scan_id: str) -> JSONResponse:
    """The scan's earlier report is kept (``GET .../reports``); the scan shows the new one
    once analysed. Photos go in the ``photos`` field, as for an upload."""
    with _receiving_upload(request):
        return await _add_photos(request, store_code, scan_id)


async def _add_photos(request: Request, store_code: str, scan_id: str) -> JSONResponse:
    settings = _settings(request)
    key = check_idempotency_key(request.headers.get("Idempotency-Key"))
    body_limit = MAX_PHOTOS * LIMITS.max_bytes + 1024 * 1024
    if int(request.headers.get("content-length") or 0) > body_limit:
        raise TooLarge("request_too_large", f"at most {MAX_PHOTOS} photos per scan")
    body: _Body | ShelfscanError
    try:
        body = await _read_multipart(request, body_limit, MAX_PHOTOS + 16)
    except ShelfscanError as error:
        body = error
    storage = get_storage(settings)

    def receive() -> PhotosReceived:
        if isinstance(body, ShelfscanError):
            raise body
        return _photos_of(body.parts())

    def accept(session: Session) -> tuple[Any, str | None]:
        created = accept_added_photos(
            session,
            storage,
            store_code,
            scan_id,
            idempotency_key=key,
            receive=receive,
            full_validation=upload_validation_mode(request) == "full",
            deadline_s=settings.scan_deadline_s,
        )
        if created.created:
            _enqueue(request, created.scan.id)
        bay = session.get(Bay, created.scan.bay_id)
        return created, (bay.code if bay else None)

    created, bay_code = await run_in_threadpool(_call, request, accept)
    document = ScanAcceptedOut(
        **_summary(request, store_code, bay_code, created.scan), created=created.created
    )
    headers = {"Location": document.url}
    if not created.created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(status_code=202, content=document.model_dump(mode="json"), headers=headers)


@router.get(
    "/scans/{scan_id}/overview.png",
    summary="The bay drawn from its planogram, coloured by status, with which photo covered what",
    response_class=Response,
    responses={200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
)
def overview_route(request: Request, store_code: str, scan_id: str) -> Response:
    scan = require_done(_load_scan(request, store_code, scan_id)[1])
    try:
        data = get_storage(_settings(request)).get(overview_key(store_code, scan.id))
    except ObjectNotFound:
        raise NotFound("not_found", "no bay overview for this scan") from None
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(data, media_type="image/png", headers=headers)


@router.get(
    "/scans/{scan_id}/reports",
    summary="A scan's report history: the analysis, corrections, re-analysis after photos",
)
def report_versions_route(request: Request, store_code: str, scan_id: str) -> dict[str, Any]:
    def work(session: Session) -> tuple[Scan, list[tuple[int, str | None, str]]]:
        _, scan = get_scan(session, store_code, scan_id)
        history = [
            (row.version, row.created_by, row.created_at.isoformat())
            for row in report_history(session, scan.id)
        ]
        return scan, history

    scan, history = _call(request, work)
    url = _scan_url(request, store_code, scan.id)
    versions = [
        {"version": v, "created_by": by, "created_at": at, "url": f"{url}/reports/{v}"}
        for v, by, at in history
    ]
    # The newest version is the scan's current report; the others are earlier ones.
    return {"current": url, "versions": versions, "earlier": versions[:-1]}


@router.get(
    "/scans/{scan_id}/reports/{version}",
    summary="One report of a scan's history (1: its analysis)",
    response_model=dict[str, Any],
    responses={200: {"description": "The compliance report (docs/report-schema.md)"}},
)
def report_version_route(
    request: Request, store_code: str, scan_id: str, version: Annotated[int, Path(ge=1, le=10**6)]
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        _, scan = get_scan(session, store_code, scan_id)
        return report_version(session, scan, version)

    return _call(request, work)
