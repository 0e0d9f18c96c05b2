"""The scan service: create a scan from validated photos exactly once, find, list and retry scans.

Every function takes the store code and filters by it, so per-store access control can later
be a check on that one argument. Photos go to storage before the database row is committed,
and the 202 answer is only given after both, so an acknowledged scan is never lost; the
``(store, Idempotency-Key)`` unique constraint makes a phone's retry return the first scan
rather than create a second.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from shelfscan.db.models import Bay, BayAssignment, Scan, ScanPhoto, Store
from shelfscan.storage import Storage

log = logging.getLogger(__name__)

STATUSES = ("queued", "processing", "done", "failed")
MAX_IDEMPOTENCY_KEY = 255

# Codes of a photo the worker found unusable (fast upload validation): the same codes the
# upload answer uses in full mode. A scan failed with one of these cannot be retried.
PHOTO_REJECTION_CODES = frozenset(
    {
        "empty_file",
        "file_too_large",
        "unsupported_format",
        "content_type_mismatch",
        "image_too_small",
        "image_too_large",
        "decompression_bomb",
        "truncated_image",
        "corrupt_image",
    }
)


class PhotoToStore(Protocol):
    """A checked upload (:class:`shelfscan.imaging.CheckedPhoto`, not yet sanitised) or a
    validated one (:class:`shelfscan.imaging.ValidatedPhoto`, the clean copy)."""

    @property
    def stored_bytes(self) -> bytes: ...
    @property
    def stored_content_type(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def prepared(self) -> bool: ...


class ScanError(Exception):
    """A request the service refuses, with an HTTP status and a machine-readable code."""

    def __init__(
        self, code: str, message: str, *, status_code: int = 400, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.field = field


@dataclass(frozen=True)
class ScanTarget:
    """Where a new scan goes: the store, the bay and the planogram version it is checked
    against (fixed at upload time, so a later re-assignment does not change old scans)."""

    store_id: int
    store_code: str
    bay_id: int
    bay_code: str
    version_id: int


@dataclass(frozen=True)
class CreatedScan:
    scan: Scan
    created: bool  # False when an earlier request with the same Idempotency-Key made it


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def lease_released(now: datetime) -> dict[str, Any]:
    """The columns every state change out of ``processing`` sets: no worker holds the scan."""
    return {"updated_at": now, "leased_by": None, "lease_expires_at": None}


# Storage keys --------------------------------------------------------------------------------


def scan_prefix(store_code: str, scan_id: str) -> str:
    return f"stores/{_safe(store_code)}/scans/{scan_id}"


def photo_key(store_code: str, scan_id: str, index: int) -> str:
    return f"{scan_prefix(store_code, scan_id)}/photo-{index}.jpg"


def upload_key(store_code: str, scan_id: str, index: int) -> str:
    """The phone's bytes as received (metadata included), kept only until the worker has
    written the clean copy under :func:`photo_key`."""
    return f"{scan_prefix(store_code, scan_id)}/upload-{index}"


def is_upload_key(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("upload-")


def annotated_key(store_code: str, scan_id: str, index: int = 0) -> str:
    return f"{scan_prefix(store_code, scan_id)}/annotated-{index}.jpg"


def evidence_key(store_code: str, scan_id: str, facing_id: str) -> str:
    return f"{scan_prefix(store_code, scan_id)}/evidence/{_safe(facing_id)}.jpg"


def _safe(name: str) -> str:
    """Any id as a storage-key segment: distinct ids stay distinct."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", lambda m: f"~{ord(m.group()):x}", name)
    return cleaned if cleaned and cleaned[0].isalnum() else f"x{cleaned}"


# Lookups ------------------------------------------------------------------------------------


def find_store(session: Session, store_code: str) -> Store:
    store = session.scalar(select(Store).where(Store.code == store_code))
    if store is None:
        raise ScanError("store_not_found", f"no store with code {store_code!r}", status_code=404)
    return store


def find_bay(session: Session, store: Store, bay_code: str) -> Bay:
    bay = session.scalar(select(Bay).where(Bay.store_id == store.id, Bay.code == bay_code))
    if bay is None:
        raise ScanError(
            "bay_not_found",
            f"store {store.code!r} has no bay {bay_code!r}",
            status_code=404,
            field="bay_code",
        )
    return bay


def _assignment_on(bay_id: Any, store_id: Any, on: date) -> Any:
    """The assignment of a bay in effect on ``on`` (the latest one wins), as a select."""
    return (
        select(BayAssignment.planogram_version_id)
        .where(
            BayAssignment.bay_id == bay_id,
            BayAssignment.store_id == store_id,
            BayAssignment.effective_from <= on,
            or_(BayAssignment.effective_to.is_(None), BayAssignment.effective_to > on),
        )
        .order_by(BayAssignment.effective_from.desc(), BayAssignment.id.desc())
        .limit(1)
    )


def resolve_target(
    session: Session,
    store_code: str,
    bay_code: str,
    *,
    on: date | None = None,
    idempotency_key: str | None = None,
) -> tuple[ScanTarget, str | None]:
    """Where an upload goes, and the id of the scan an earlier request with the same
    ``idempotency_key`` created, if any, in one round trip: this runs for every upload."""
    on = on or now_utc().date()
    version_id = _assignment_on(Bay.id, Store.id, on).scalar_subquery()
    statement = (
        select(Store.id, Bay.id, version_id, Scan.id, Scan.bay_id)
        .select_from(Store)
        .outerjoin(Bay, (Bay.store_id == Store.id) & (Bay.code == bay_code))
        .outerjoin(
            Scan,
            (Scan.store_id == Store.id) & (Scan.idempotency_key == idempotency_key)
            if idempotency_key is not None
            else false(),
        )
        .where(Store.code == store_code)
    )
    row = session.execute(statement).first()
    if row is None:
        raise ScanError("store_not_found", f"no store with code {store_code!r}", status_code=404)
    store_id, bay_id, version, earlier_id, earlier_bay_id = row
    if bay_id is None:
        raise ScanError(
            "bay_not_found",
            f"store {store_code!r} has no bay {bay_code!r}",
            status_code=404,
            field="bay_code",
        )
    if version is None:
        raise ScanError(
            "no_planogram_assigned",
            f"bay {bay_code!r} in store {store_code!r} has no planogram assigned for "
            f"{on.isoformat()}; assign one before scanning",
            status_code=409,
        )
    if earlier_id is not None and earlier_bay_id != bay_id:
        raise _key_conflict(idempotency_key)
    return ScanTarget(store_id, store_code, bay_id, bay_code, version), earlier_id


def _key_conflict(key: str | None) -> ScanError:
    # A key reused for another bay is a client bug: refused rather than silently answered
    # with the wrong scan.
    return ScanError(
        "idempotency_key_conflict",
        f"Idempotency-Key {key!r} was already used for another bay in this store",
        status_code=409,
        field="Idempotency-Key",
    )


def find_by_idempotency_key(session: Session, store_id: int, key: str) -> Scan | None:
    return session.scalar(
        select(Scan)
        .options(selectinload(Scan.photos))
        .where(Scan.store_id == store_id, Scan.idempotency_key == key)
    )


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ScanError(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


# Creating -----------------------------------------------------------------------------------


def create_scan(
    session: Session,
    storage: Storage,
    target: ScanTarget,
    photos: Sequence[PhotoToStore],
    *,
    idempotency_key: str | None = None,
    taken_by: str | None = None,
    quality: dict[str, Any] | None = None,
    deadline_s: float = 300.0,
    write_lock: AbstractContextManager[Any] | None = None,
) -> CreatedScan:
    """Store the photos, then commit the scan; exactly one scan per idempotency key.

    The caller has looked the key up with :func:`resolve_target`; a request racing it with
    the same key meets the unique constraint below and is answered with the winner's scan.
    """
    if not photos:
        raise ScanError("no_photos", "send at least one photo", field="photos")

    scan_id = str(uuid.uuid4())
    created_at = now_utc()
    keys = [
        (photo_key if photo.prepared else upload_key)(target.store_code, scan_id, index)
        for index, photo in enumerate(photos)
    ]
    written: list[str] = []
    try:
        for key, photo in zip(keys, photos, strict=True):
            storage.put(key, photo.stored_bytes, photo.stored_content_type)
            written.append(key)
        scan = Scan(
            id=scan_id,
            store_id=target.store_id,
            bay_id=target.bay_id,
            planogram_version_id=target.version_id,
            idempotency_key=idempotency_key,
            status="queued",
            attempts=0,
            taken_by=taken_by,
            quality=quality,
            created_at=created_at,
            updated_at=created_at,
            deadline_at=created_at + timedelta(seconds=deadline_s),
            photos=[
                ScanPhoto(
                    index=index,
                    storage_key=key,
                    content_type=photo.stored_content_type,
                    width=photo.width,
                    height=photo.height,
                    size_bytes=len(photo.stored_bytes),
                    sha256=photo.sha256,
                )
                for index, (key, photo) in enumerate(zip(keys, photos, strict=True))
            ],
        )
        with write_lock or nullcontext():
            session.add(scan)
            session.commit()
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its scan.
        session.rollback()
        _delete_quietly(storage, written)
        winner = find_by_idempotency_key(session, target.store_id, idempotency_key or "")
        if winner is None:
            raise
        return CreatedScan(winner, created=False)
    except BaseException:
        session.rollback()
        _delete_quietly(storage, written)
        raise
    log.info(
        "scan created",
        extra={"scan_id": scan_id, "store": target.store_code, "bay": target.bay_code},
    )
    return CreatedScan(scan, created=True)


def _delete_quietly(storage: Storage, keys: Sequence[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # the original error matters more than a cleanup failure
            log.warning("could not delete orphan object", extra={"key": key}, exc_info=True)


def failure_reason(code: str, message: str) -> str:
    """The stored ``error`` text of a scan failed for a machine-readable reason."""
    return f"{code}: {message}"


def error_code(scan: Scan) -> str | None:
    """A machine-readable code for why a scan failed (None unless it failed)."""
    if scan.status != "failed" or not scan.error:
        return None
    prefix, separator, _ = scan.error.partition(": ")
    if separator and prefix in PHOTO_REJECTION_CODES:
        return prefix
    if scan.error.startswith("deadline exceeded"):
        return "deadline_exceeded"
    if scan.error.startswith("gave up after"):
        return "worker_lost"
    return "analysis_failed"


# Reading ------------------------------------------------------------------------------------


def get_scan(session: Session, store_code: str, scan_id: str) -> tuple[Store, Scan]:
    store = find_store(session, store_code)
    scan = session.scalar(
        select(Scan)
        .options(selectinload(Scan.photos))
        .where(Scan.store_id == store.id, Scan.id == scan_id)
    )
    if scan is None:
        raise ScanError(
            "scan_not_found", f"store {store_code!r} has no scan {scan_id!r}", status_code=404
        )
    return store, scan


@dataclass(frozen=True)
class ScanPage:
    scans: list[Scan]
    total: int
    bay_codes: dict[int, str]


def list_scans(
    session: Session,
    store_code: str,
    *,
    bay_code: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ScanPage:
    """Newest first. ``since`` is inclusive, ``until`` exclusive."""
    store = find_store(session, store_code)
    conditions = [Scan.store_id == store.id]
    if bay_code is not None:
        conditions.append(Scan.bay_id == find_bay(session, store, bay_code).id)
    if status is not None:
        if status not in STATUSES:
            raise ScanError(
                "invalid_status",
                f"status must be one of {', '.join(STATUSES)}, not {status!r}",
                status_code=422,
                field="status",
            )
        conditions.append(Scan.status == status)
    if since is not None:
        conditions.append(Scan.created_at >= _as_utc(since))
    if until is not None:
        conditions.append(Scan.created_at < _as_utc(until))
    total = session.scalar(select(func.count()).select_from(Scan).where(*conditions)) or 0
    scans = list(
        session.scalars(
            select(Scan)
            .options(selectinload(Scan.photos))
            .where(*conditions)
            .order_by(Scan.created_at.desc(), Scan.id)
            .limit(limit)
            .offset(offset)
        )
    )
    bay_ids = {scan.bay_id for scan in scans}
    bay_codes = dict(
        session.execute(select(Bay.id, Bay.code).where(Bay.id.in_(bay_ids))).tuples().all()
    )
    return ScanPage(scans=scans, total=total, bay_codes=bay_codes)


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# Retrying -----------------------------------------------------------------------------------


def retry_scan(
    session: Session, store_code: str, scan_id: str, *, deadline_s: float = 300.0
) -> Scan:
    """Queue a failed scan again, with a fresh deadline; its photos are kept, so nothing needs
    to be uploaded again."""
    _, scan = get_scan(session, store_code, scan_id)
    if scan.status != "failed":
        raise ScanError(
            "scan_not_retryable",
            f"only failed scans can be retried; this one is {scan.status}",
            status_code=409,
        )
    if error_code(scan) in PHOTO_REJECTION_CODES:
        raise ScanError(
            "scan_not_retryable",
            "the photo itself was unusable and has been deleted; take and upload a new one",
            status_code=409,
        )
    now = now_utc()
    scan.status = "queued"
    scan.error = None
    scan.attempts = 0
    scan.leased_by = None
    scan.lease_expires_at = None
    scan.started_at = None
    scan.finished_at = None
    scan.updated_at = now
    scan.deadline_at = now + timedelta(seconds=deadline_s)
    session.commit()
    return scan
