"""Turning an upload into a queued scan: look up where it goes, answer a replay, check the
photos (structurally, or fully in ``full`` upload validation) and create the scan.

The HTTP route only moves bytes: it parses the multipart body into :class:`RawPhoto` values
and calls :func:`accept_upload` in a worker thread with one database session.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy.orm import Session

from shelfscan.db.models import PlanogramVersion
from shelfscan.imaging import (
    BayScale,
    CheckedPhoto,
    UploadLimits,
    ValidatedPhoto,
    assess_quality,
    precheck_photo,
    validate_photo,
)
from shelfscan.services.scans import (
    CreatedScan,
    ScanTarget,
    add_photos,
    check_same_request,
    create_scan,
    find_by_idempotency_key,
    get_scan,
    resolve_target,
    scan_prefix,
)
from shelfscan.services.stores import planogram_from_version
from shelfscan.storage import ObjectNotFound, Storage

LIMITS = UploadLimits()
# Decoding a 12 MP photo takes tens of MB; this many at once, however many uploads arrive.
_decode_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
_sqlite_write_lock = threading.Lock()


@dataclass(frozen=True)
class RawPhoto:
    """One photo as received: its bytes, declared type, form field and file name."""

    data: bytes
    content_type: str | None
    field: str
    filename: str

    @cached_property
    def sha256(self) -> str:
        """Hashed once per upload (≈6 ms for 3 MB): the Idempotency-Key's fingerprint and the
        stored photo's checksum both use it."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class PhotosReceived:
    photos: list[RawPhoto]
    taken_by: str | None


def accept_upload(
    session: Session,
    storage: Storage,
    store_code: str,
    bay_code: str,
    *,
    idempotency_key: str | None,
    receive: Callable[[], PhotosReceived],
    full_validation: bool,
    deadline_s: float,
) -> CreatedScan:
    """The scan for this upload: the earlier one for a replayed ``idempotency_key`` (when the
    request is the same; another request with that key is refused), else a new queued one.
    Errors come in a fixed order: unknown store or bay, then the body (whatever ``receive``
    raises), then a key reused for another request, then each photo."""
    target, earlier_id = resolve_target(
        session, store_code, bay_code, idempotency_key=idempotency_key
    )
    received = receive()
    fingerprint = request_fingerprint(bay_code, received) if idempotency_key else None
    if earlier_id is not None and idempotency_key is not None:
        earlier = find_by_idempotency_key(session, target.store_id, idempotency_key)
        if earlier is not None:
            check_same_request(earlier, idempotency_key, fingerprint)
            return CreatedScan(earlier, created=False)  # its photos came with it
    photos: list[ValidatedPhoto] | list[CheckedPhoto]
    quality: dict[str, Any] | None
    if full_validation:
        photos, quality = _validate_all(received.photos, _scale_of(session, target))
    else:
        # Structural checks only (well under a millisecond each): the worker decodes,
        # sanitises and assesses the photo, and fails the scan if it is damaged.
        photos, quality = _precheck_all(received.photos), None
    created = create_scan(
        session,
        storage,
        target,
        photos,
        idempotency_key=idempotency_key,
        taken_by=received.taken_by,
        quality=quality,
        deadline_s=deadline_s,
        write_lock=_write_lock(session),
        request_fingerprint=fingerprint,
    )
    _ = created.scan.photos  # loaded before the session closes
    return created


def accept_added_photos(
    session: Session,
    storage: Storage,
    store_code: str,
    scan_id: str,
    *,
    idempotency_key: str | None,
    receive: Callable[[], PhotosReceived],
    full_validation: bool,
    deadline_s: float,
) -> CreatedScan:
    """Further photos for a finished scan (:func:`shelfscan.services.scans.add_photos`), with
    the upload's rules: the same checks per photo, and a replayed ``idempotency_key`` answered
    with the scan unchanged (another request with that key is refused). Errors come in a fixed
    order: unknown store or scan, then the body, then a key reused, then each photo."""
    _, scan = get_scan(session, store_code, scan_id)
    received = receive()
    fingerprint = request_fingerprint(f"scan:{scan_id}", received)
    marker = _addition_key(store_code, scan_id, idempotency_key) if idempotency_key else None
    if marker is not None:
        try:
            earlier = json.loads(storage.get(marker))
        except ObjectNotFound:
            earlier = None
        if earlier is not None:
            if earlier.get("fingerprint") != fingerprint:
                check_same_request(
                    _Fingerprinted(earlier.get("fingerprint")), idempotency_key, fingerprint
                )
            return CreatedScan(scan, created=False)
    # Photos are numbered on from the scan's: the quality feedback names them that way.
    first = len(scan.photos)
    renumbered = [
        replace(photo, field=f"photos[{first + offset}]")
        for offset, photo in enumerate(received.photos)
    ]
    photos: list[ValidatedPhoto] | list[CheckedPhoto]
    quality: dict[str, Any] | None
    if full_validation:
        version = session.get(PlanogramVersion, scan.planogram_version_id)
        scale = _bay_scale(version.id, json.dumps(version.document)) if version else None
        photos, quality = _validate_all(renumbered, scale)
    else:
        photos, quality = _precheck_all(renumbered), None
    created = add_photos(
        session,
        storage,
        store_code,
        scan_id,
        photos,
        quality=quality,
        deadline_s=deadline_s,
        write_lock=_write_lock(session),
    )
    if marker is not None and created.created:
        storage.put(marker, json.dumps({"fingerprint": fingerprint}).encode(), "application/json")
    _ = created.scan.photos  # loaded before the session closes
    return created


@dataclass(frozen=True)
class _Fingerprinted:
    request_fingerprint: str | None


def _addition_key(store_code: str, scan_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"{scan_prefix(store_code, scan_id)}/additions/{digest}.json"


def request_fingerprint(bay_code: str, received: PhotosReceived) -> str:
    """What identifies an upload for its Idempotency-Key: the bay, who took the photos and
    each photo's bytes, in order (a retry sends the same; a new photo is a new request)."""
    digest = hashlib.sha256()
    for part in (bay_code, received.taken_by or "", *(p.field for p in received.photos)):
        digest.update(part.encode() + b"\0")
    for photo in received.photos:
        digest.update(bytes.fromhex(photo.sha256))
    return digest.hexdigest()


def quality_summary(per_photo: list[dict[str, Any]]) -> dict[str, Any]:
    """One scan's quality: per photo, and one retake hint for the staff member."""
    per_photo = sorted(per_photo, key=lambda q: str(q.get("photo") or ""))
    hints = [q["retake_hint"] for q in per_photo if q.get("retake_hint")]
    return {
        "ok": all(q.get("ok", True) for q in per_photo),
        "retake_hint": hints[0] if len(hints) == 1 else (" ".join(hints) or None),
        "photos": per_photo,
    }


def _scale_of(session: Session, target: ScanTarget) -> BayScale | None:
    version = session.get(PlanogramVersion, target.version_id)
    if version is None:
        return None
    return _bay_scale(version.id, json.dumps(version.document))


@lru_cache(maxsize=64)
def _bay_scale(version_id: int, document_json: str) -> BayScale | None:
    try:
        return BayScale.from_planogram(planogram_from_version(json.loads(document_json)))
    except ValueError:
        return None


def _write_lock(session: Session) -> Any:
    """SQLite allows one writer; threads queueing on a Python lock wait exactly as long as
    needed, where SQLite's own busy handler sleeps in steps of up to 100 ms."""
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_write_lock
    return contextlib.nullcontext()


def _validate_all(
    raw: Sequence[RawPhoto], scale: BayScale | None
) -> tuple[list[ValidatedPhoto], dict[str, Any]]:
    photos: list[ValidatedPhoto] = []
    per_photo: list[dict[str, Any]] = []
    for item in raw:
        with _decode_slots:
            photo = validate_photo(
                item.data,
                item.content_type,
                field_name=item.field,
                filename=item.filename or None,
                limits=LIMITS,
            )
        photos.append(photo)
        quality = assess_quality(
            photo.preview,
            full_width=photo.width,
            full_height=photo.height,
            bay=scale,
            photo=item.field,
        )
        per_photo.append(quality.as_dict())
    return photos, quality_summary(per_photo)


def _precheck_all(raw: Sequence[RawPhoto]) -> list[CheckedPhoto]:
    return [
        precheck_photo(
            item.data,
            item.content_type,
            field_name=item.field,
            filename=item.filename or None,
            limits=LIMITS,
            sha256=item.sha256,
        )
        for item in raw
    ]
