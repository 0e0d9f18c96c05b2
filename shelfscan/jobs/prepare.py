"""The worker's first step in fast upload validation: turn the phone's bytes into the stored
copy, before any analysis.

The upload answer only checked the files' structure. Here each photo kept as received
(``upload-N``) is fully decoded — which finds damage in the middle of a file — rotated upright,
stripped of GPS and other personal metadata, and assessed for quality; the clean copy replaces
the received bytes (``photo-N.jpg``), the photo row is updated to describe it, and the quality
feedback is written to the scan at once, so the staff page can show the retake hints while
the analysis still runs. A photo that fails is a :class:`PhotoRejected`: the scan fails with
the same machine-readable code the upload answer would have used, and every byte of its photos
is deleted.

Re-running is safe: only rows still pointing at a received upload are prepared, and every
database write is conditional on the worker still holding the scan's lease.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from shelfscan.db.models import Scan, ScanPhoto
from shelfscan.db.session import session_scope
from shelfscan.imaging import BayScale, UploadRejected, assess_quality, validate_photo
from shelfscan.planogram.model import Planogram
from shelfscan.services import scans
from shelfscan.services.scans import failure_reason, is_upload_key, photo_key, upload_key
from shelfscan.services.uploads import quality_summary
from shelfscan.storage import ObjectNotFound, Storage

log = logging.getLogger(__name__)


class PhotoRejected(Exception):
    """A received photo is unusable; the scan fails with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LeaseLost(Exception):
    """Another worker (or the deadline) took the scan while its photos were prepared."""


@dataclass(frozen=True)
class PhotoRow:
    index: int
    storage_key: str
    content_type: str


def photo_rows(session: Any, scan_id: str) -> list[PhotoRow]:
    rows = session.execute(
        select(ScanPhoto.index, ScanPhoto.storage_key, ScanPhoto.content_type)
        .where(ScanPhoto.scan_id == scan_id)
        .order_by(ScanPhoto.index)
    ).all()
    return [PhotoRow(*row) for row in rows]


def prepare_photos(
    *,
    database_url: str,
    storage: Storage,
    scan_id: str,
    store_code: str,
    planogram: Planogram,
    rows: Sequence[PhotoRow],
    holder: str,
) -> bool:
    """Prepare every photo still as received; False when there was nothing to do.

    ``holder`` is the worker's lease on the scan; every write requires it. Raises
    :class:`PhotoRejected` for an unusable photo, :class:`LeaseLost` when the scan was taken.
    """
    pending = [row for row in rows if is_upload_key(row.storage_key)]
    for row in rows:
        if not is_upload_key(row.storage_key):
            # A run killed after switching the row but before deleting the received bytes.
            storage.delete(upload_key(store_code, scan_id, row.index))
    if not pending:
        return False

    bay = BayScale.from_planogram(planogram)
    updates: list[dict[str, Any]] = []
    per_photo: list[dict[str, Any]] = []
    for row in pending:
        field = f"photos[{row.index}]"
        try:
            data = storage.get(row.storage_key)
        except ObjectNotFound:
            raise PhotoRejected("corrupt_image", f"{field}: the received file is gone") from None
        try:
            photo = validate_photo(data, row.content_type, field_name=field)
        except UploadRejected as rejected:
            raise PhotoRejected(rejected.code, rejected.message) from rejected
        clean_key = photo_key(store_code, scan_id, row.index)
        storage.put(clean_key, photo.stored_bytes, photo.stored_content_type)
        updates.append(
            {
                "index": row.index,
                "storage_key": clean_key,
                "content_type": photo.stored_content_type,
                "width": photo.width,
                "height": photo.height,
                "size_bytes": len(photo.stored_bytes),
                "sha256": photo.sha256,
            }
        )
        quality = assess_quality(
            photo.preview, full_width=photo.width, full_height=photo.height, bay=bay, photo=field
        )
        per_photo.append(quality.as_dict())

    with session_scope(database_url) as session:
        if not scans.is_held(session, scan_id, holder):
            raise LeaseLost(scan_id)
        existing = session.scalar(select(Scan.quality).where(Scan.id == scan_id)) or {}
        earlier = [p for p in existing.get("photos", []) if isinstance(p, dict)]
        for values in updates:
            session.execute(
                update(ScanPhoto)
                .where(ScanPhoto.scan_id == scan_id, ScanPhoto.index == values["index"])
                .values(**{k: v for k, v in values.items() if k != "index"})
                .execution_options(synchronize_session=False)
            )
        scans.record_quality(session, scan_id, holder, quality_summary(earlier + per_photo))
    for row in pending:
        storage.delete(row.storage_key)
    return True


def fail_rejected(
    *,
    database_url: str,
    storage: Storage,
    scan_id: str,
    store_code: str,
    rejected: PhotoRejected,
    holder: str,
) -> bool:
    """Fail the scan with the photo's code and delete everything of its photos (rows and
    bytes, received and clean copies alike); False when the lease was lost first."""
    with session_scope(database_url) as session:
        indexes = list(session.scalars(select(ScanPhoto.index).where(ScanPhoto.scan_id == scan_id)))
        if not scans.fail(
            session, scan_id, holder, failure_reason(rejected.code, rejected.message)
        ):
            return False
        session.execute(delete(ScanPhoto).where(ScanPhoto.scan_id == scan_id))
    for index in indexes:
        for key in (upload_key(store_code, scan_id, index), photo_key(store_code, scan_id, index)):
            try:
                storage.delete(key)
            except Exception:  # the scan is failed either way; say which object is left
                log.warning("could not delete a rejected photo", extra={"key": key}, exc_info=True)
    log.warning("scan photo rejected", extra={"scan_id": scan_id, "code": rejected.code})
    return True
