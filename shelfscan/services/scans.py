"""The scan service: the scan lifecycle and every query about scans.

A scan's ``status`` is a :class:`ScanStatus` and changes only through the functions of this
module, one per transition::

    create_scan ─▶ queued ─claim─▶ processing ─finish─▶ done
                     ▲  ▲             │ │  └─────fail──▶ failed ─retry─▶ queued
                     │  └──release────┘ │                  ▲
                     └──reap (worker lost, attempts left)  └─ reap (deadline, attempts used up)

Every worker-side transition is one conditional UPDATE (``claim`` only takes a queued scan or
one whose holder's lease expired; ``finish``/``fail``/``release`` only apply while the caller
still holds the lease), so a duplicated message, a worker killed mid-scan or a scan failed by
the deadline never produces two results, and several reapers can run at once.

Every request-side function takes the store code and filters by it, so per-store access
control can later be a check on that one argument. Photos go to storage before the database
row is committed, and the 202 answer is only given after both, so an acknowledged scan is never
lost; the ``(store, Idempotency-Key)`` unique constraint makes a phone's retry return the first
scan rather than create a second.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, selectinload

from shelfscan.compliance.report import ComplianceReport, FacingStatus
from shelfscan.db.base import utcnow
from shelfscan.db.models import Bay, BayAssignment, ReportVersion, Scan, ScanPhoto, Store
from shelfscan.services.errors import Conflict, NotFound, ShelfscanError, TooLarge
from shelfscan.services.status import ScanStatus
from shelfscan.services.stores import assignment_in_force, service_date
from shelfscan.storage import Storage

log = logging.getLogger(__name__)


ACTIVE = (ScanStatus.QUEUED, ScanStatus.PROCESSING)  # not finished: the deadline applies
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


OVERVIEW_NAME = "overview.png"
MAX_PHOTOS = 8


def overview_key(store_code: str, scan_id: str) -> str:
    """The bay overview: the planogram coloured by verdict, which photo covered what."""
    return f"{scan_prefix(store_code, scan_id)}/{OVERVIEW_NAME}"


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
        raise NotFound("store_not_found", f"no store with code {store_code!r}")
    return store


def find_bay(session: Session, store: Store, bay_code: str) -> Bay:
    bay = session.scalar(select(Bay).where(Bay.store_id == store.id, Bay.code == bay_code))
    if bay is None:
        raise NotFound(
            "bay_not_found", f"store {store.code!r} has no bay {bay_code!r}", field="bay_code"
        )
    return bay


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
    on = on or service_date()
    parameters = {"store_code": store_code, "bay_code": bay_code, "on": on}
    if idempotency_key is not None:
        parameters["idempotency_key"] = idempotency_key
    statement = _target_statement(with_key=idempotency_key is not None)
    row = session.execute(statement, parameters).first()
    if row is None:
        raise NotFound("store_not_found", f"no store with code {store_code!r}")
    store_id, bay_id, version, earlier_id, earlier_bay_id = row
    if bay_id is None:
        raise NotFound(
            "bay_not_found", f"store {store_code!r} has no bay {bay_code!r}", field="bay_code"
        )
    if version is None:
        raise Conflict(
            "no_planogram_assigned",
            f"bay {bay_code!r} in store {store_code!r} has no planogram assigned for "
            f"{on.isoformat()} (UTC); assign one before scanning",
        )
    if earlier_id is not None and earlier_bay_id != bay_id:
        raise _key_conflict(idempotency_key)
    return ScanTarget(store_id, store_code, bay_id, bay_code, version), earlier_id


@lru_cache(maxsize=2)
def _target_statement(*, with_key: bool) -> Select[Any]:
    """:func:`resolve_target`'s look-up, built once: building it took half of its time."""
    on = bindparam("on", type_=Date)
    version_id = assignment_in_force(
        Bay.id, on, columns=BayAssignment.planogram_version_id
    ).scalar_subquery()
    return (
        select(Store.id, Bay.id, version_id, Scan.id, Scan.bay_id)
        .select_from(Store)
        .outerjoin(Bay, (Bay.store_id == Store.id) & (Bay.code == bindparam("bay_code")))
        .outerjoin(
            Scan,
            (Scan.store_id == Store.id) & (Scan.idempotency_key == bindparam("idempotency_key"))
            if with_key
            else false(),
        )
        .where(Store.code == bindparam("store_code"))
    )


def _key_conflict(key: str | None) -> Conflict:
    # A key reused for another bay is a client bug: refused rather than silently answered
    # with the wrong scan.
    return Conflict(
        "idempotency_key_conflict",
        f"Idempotency-Key {key!r} was already used for another bay in this store",
        field="Idempotency-Key",
    )


def check_same_request(scan: Scan, key: str | None, fingerprint: str | None) -> None:
    """A replay must repeat the request that made ``scan``: the same key with other photos
    (or another bay or photographer) is refused, as the IETF Idempotency-Key draft and Stripe
    do, rather than silently answered with the first request's scan. Scans from before
    fingerprints were kept have none and replay as before."""
    if fingerprint is None or scan.request_fingerprint in (None, fingerprint):
        return
    raise Conflict(
        "idempotency_key_reused",
        f"Idempotency-Key {key!r} was already used with a different request (other photos or "
        "fields); send a new key for a new request",
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
        raise ShelfscanError(
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
    request_fingerprint: str | None = None,
) -> CreatedScan:
    """Store the photos, then commit the scan; exactly one scan per idempotency key.

    The caller has looked the key up with :func:`resolve_target`; a request racing it with
    the same key meets the unique constraint below and is answered with the winner's scan.
    """
    if not photos:
        raise ShelfscanError("no_photos", "send at least one photo", field="photos")

    scan_id = str(uuid.uuid4())
    created_at = utcnow()
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
            request_fingerprint=request_fingerprint,
            status=ScanStatus.QUEUED,
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
        check_same_request(winner, idempotency_key, request_fingerprint)
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
    if scan.status != ScanStatus.FAILED or not scan.error:
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
        raise NotFound("scan_not_found", f"store {store_code!r} has no scan {scan_id!r}")
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
    status: ScanStatus | None = None,
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
        conditions.append(Scan.status == ScanStatus(status))
    if since is not None:
        conditions.append(Scan.created_at >= since)
    if until is not None:
        conditions.append(Scan.created_at < until)
    total = session.scalar(select(func.count()).select_from(Scan).where(*conditions)) or 0
    scans = list(
        session.scalars(
            select(Scan)
            # A listing shows no report: reading and parsing each one (tens of KB of JSON)
            # was most of a listing's time.
            .options(selectinload(Scan.photos), defer(Scan.report, raiseload=True))
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


# Reports ---------------------------------------------------------------------------------------

NO_EVIDENCE = frozenset({FacingStatus.OK, FacingStatus.NOT_VISIBLE})
Pixels = tuple[float, float, float, float]


def compliance_report(report: ComplianceReport | dict[str, Any]) -> ComplianceReport:
    """The typed report of a stored (or freshly computed) one; raises pydantic's
    ``ValidationError`` for a document that is not a compliance report."""
    if isinstance(report, ComplianceReport):
        return report
    return ComplianceReport.model_validate(report)


def evidence_boxes(report: ComplianceReport | dict[str, Any]) -> dict[str, Pixels]:
    """``facing id -> (x1, y1, x2, y2)`` pixels of every facing with a problem (gap or
    misplaced): where its evidence is (the box the detector saw, or for an inferred gap the
    empty space where the product should be)."""
    found: dict[str, Pixels] = {}
    for facing in compliance_report(report).facings:
        if facing.status in NO_EVIDENCE:
            continue
        box = facing.evidence.box
        if box.w > 0 and box.h > 0:
            found[facing.facing_id] = (box.x, box.y, box.x + box.w, box.y + box.h)
    return found


# Transitions ---------------------------------------------------------------------------------
#
# The worker-side ones take a session and run one conditional UPDATE; the caller commits
# (``session_scope``). ``holder`` names one attempt of one worker.


def _lease_released(now: datetime) -> dict[str, Any]:
    """The columns every change out of ``processing`` sets: no worker holds the scan."""
    return {"updated_at": now, "leased_by": None, "lease_expires_at": None}


def held_by(scan_id: str, holder: str) -> ColumnElement[bool]:
    """SQL: ``holder`` still holds the scan (it is processing under their lease)."""
    return and_(Scan.id == scan_id, Scan.status == ScanStatus.PROCESSING, Scan.leased_by == holder)


def _change(session: Session, where: ColumnElement[bool], **values: Any) -> bool:
    result = session.execute(
        update(Scan).where(where).values(**values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class Claim:
    attempts: int  # this one included
    deadline_passed: bool


def claim(
    session: Session, scan_id: str, holder: str, *, lease_s: float, now: datetime | None = None
) -> Claim | None:
    """queued (or processing under an expired lease) → processing, held by ``holder`` for
    ``lease_s``; None when the scan is not this worker's to process."""
    now = now or utcnow()
    claimable = and_(
        Scan.id == scan_id,
        or_(
            Scan.status == ScanStatus.QUEUED,
            and_(Scan.status == ScanStatus.PROCESSING, Scan.lease_expires_at < now),
        ),
    )
    if not _change(
        session,
        claimable,
        status=ScanStatus.PROCESSING,
        attempts=Scan.attempts + 1,
        leased_by=holder,
        lease_expires_at=now + timedelta(seconds=lease_s),
        started_at=now,
        updated_at=now,
        error=None,
    ):
        return None
    attempts, deadline = session.execute(
        select(Scan.attempts, Scan.deadline_at).where(Scan.id == scan_id)
    ).one()
    return Claim(attempts, deadline is not None and deadline <= now)


def renew_lease(session: Session, scan_id: str, holder: str, *, lease_s: float) -> bool:
    """Extend ``holder``'s lease; False once the scan was failed or taken over."""
    return _change(
        session, held_by(scan_id, holder), lease_expires_at=utcnow() + timedelta(seconds=lease_s)
    )


def is_held(session: Session, scan_id: str, holder: str) -> bool:
    return session.execute(select(Scan.id).where(held_by(scan_id, holder))).first() is not None


def record_quality(session: Session, scan_id: str, holder: str, quality: dict[str, Any]) -> bool:
    """Save the photos' quality feedback while the scan is still processing."""
    return _change(session, held_by(scan_id, holder), quality=quality, updated_at=utcnow())


def finish(session: Session, scan_id: str, holder: str, report: dict[str, Any]) -> bool:
    """processing → done with its report; its facing verdicts become analytics facts in the
    same transaction (both job runners pass here)."""
    return _finish_as(session, scan_id, holder, report, ScanStatus.DONE)


def finish_inconclusive(
    session: Session, scan_id: str, holder: str, report: dict[str, Any]
) -> bool:
    """processing → inconclusive: analysed, but the trust check refused the photo; the report
    (kept for its ``trust`` section and figures) has no actions, and the audit checklist asks
    for a retake."""
    return _finish_as(session, scan_id, holder, report, ScanStatus.INCONCLUSIVE)


def _finish_as(
    session: Session, scan_id: str, holder: str, report: dict[str, Any], status: ScanStatus
) -> bool:
    now = utcnow()
    finished = _change(
        session,
        held_by(scan_id, holder),
        status=status,
        report=report,
        error=None,
        finished_at=now,
        **_lease_released(now),
    )
    if finished:
        _after_report(session, scan_id, report)
    return finished


def _after_report(session: Session, scan_id: str, report: dict[str, Any]) -> None:
    """What follows every new analysis: the report joins the scan's history once it has one
    (a scan re-analysed after a further photo), analytics facts follow the newest report
    (an inconclusive one removes earlier facts), and scheduled audits count the scan."""
    from shelfscan.analytics.facts import record_finished_scan

    if report_history(session, scan_id):
        _append_version(session, scan_id, report, created_by=None)
    record_finished_scan(session, scan_id, report)
    _tell_audits(session, scan_id)


def report_history(session: Session, scan_id: str) -> list[ReportVersion]:
    """Every report a scan has had, oldest first; empty while it has had only one."""
    return list(
        session.scalars(
            select(ReportVersion)
            .where(ReportVersion.scan_id == scan_id)
            .order_by(ReportVersion.version)
        )
    )


def report_version(session: Session, scan: Scan, version: int) -> dict[str, Any]:
    """Report ``version`` of a scan (1: its analysis); NotFound names the versions it has."""
    history = report_history(session, scan.id)
    for row in history:
        if row.version == version:
            return row.report
    if not history and version == 1 and scan.report is not None:
        return scan.report  # never changed: the analysis is its only version
    have = len(history) or (1 if scan.report is not None else 0)
    raise NotFound("not_found", f"scan {scan.id} has no report version {version} (it has {have})")


def record_report_change(
    session: Session, scan: Scan, report: dict[str, Any], *, created_by: str | None
) -> int:
    """``report`` replaces the scan's report (a correction), both kept in its history: the
    first change also records the analysis as version 1. Returns the new version number."""
    _start_history(session, scan)
    version = _append_version(session, scan.id, report, created_by=created_by)
    scan.report = report
    return version


def _start_history(session: Session, scan: Scan) -> None:
    if scan.report is not None and not report_history(session, scan.id):
        session.add(ReportVersion(scan_id=scan.id, version=1, report=scan.report, created_by=None))
        session.flush()


def _append_version(
    session: Session, scan_id: str, report: dict[str, Any], *, created_by: str | None
) -> int:
    latest = session.scalar(
        select(func.coalesce(func.max(ReportVersion.version), 0)).where(
            ReportVersion.scan_id == scan_id
        )
    )
    version = int(latest) + 1
    session.add(
        ReportVersion(scan_id=scan_id, version=version, report=report, created_by=created_by)
    )
    session.flush()
    return version


def _tell_audits(session: Session, scan_id: str) -> None:
    """Scheduled audits count the scan (occurrences, corrective tasks); in a savepoint, so an
    audit problem never undoes the scan's result."""
    from shelfscan.audits.hooks import on_scan_finished

    on_scan_finished(session, scan_id)


def fail(session: Session, scan_id: str, holder: str, message: str) -> bool:
    """processing → failed with ``message`` (see :func:`error_code` for its code)."""
    now = utcnow()
    return _change(
        session,
        held_by(scan_id, holder),
        status=ScanStatus.FAILED,
        report=None,
        error=message,
        finished_at=now,
        **_lease_released(now),
    )


def release(session: Session, scan_id: str, holder: str, message: str) -> bool:
    """processing → queued, to be tried again (a transient failure); ``message`` says why."""
    return _change(
        session,
        held_by(scan_id, holder),
        status=ScanStatus.QUEUED,
        error=message,
        **_lease_released(utcnow()),
    )


@dataclass
class ReapResult:
    failed_deadline: list[str] = field(default_factory=list)
    failed_attempts: list[str] = field(default_factory=list)
    requeued_lost: list[str] = field(default_factory=list)
    resent_stale: list[str] = field(default_factory=list)


def reap(
    session: Session,
    *,
    deadline_s: float,
    max_attempts: int,
    requeue_after_s: float,
    now: datetime | None = None,
) -> ReapResult:
    """The database's view of lost and stuck scans, corrected:

    * past its deadline (queued or processing) → failed, with the reason;
    * processing with an expired lease (its worker died) → queued again, or failed once it has
      used up ``max_attempts``;
    * queued and untouched for ``requeue_after_s`` (its message was lost) → touched, to be
      re-sent (``resent_stale``).

    The caller re-sends ``requeued_lost + resent_stale``.
    """
    now = now or utcnow()
    result = ReapResult()
    overdue = and_(Scan.status.in_(ACTIVE), Scan.deadline_at <= now)
    for scan_id in session.scalars(select(Scan.id).where(overdue)).all():
        if _change(
            session,
            and_(Scan.id == scan_id, overdue),
            status=ScanStatus.FAILED,
            error=f"deadline exceeded: not finished within {deadline_s:g} s "
            "of the upload; retry the scan",
            finished_at=now,
            **_lease_released(now),
        ):
            result.failed_deadline.append(scan_id)

    expired = and_(Scan.status == ScanStatus.PROCESSING, Scan.lease_expires_at < now)
    for scan_id, attempts in session.execute(select(Scan.id, Scan.attempts).where(expired)).all():
        if attempts >= max_attempts:
            values: dict[str, Any] = {
                "status": ScanStatus.FAILED,
                "error": f"gave up after {attempts} attempts: the worker was lost each time",
                "finished_at": now,
            }
            target = result.failed_attempts
        else:
            values = {"status": ScanStatus.QUEUED, "error": "worker lost; queued again"}
            target = result.requeued_lost
        if _change(session, and_(Scan.id == scan_id, expired), **values, **_lease_released(now)):
            target.append(scan_id)

    stale = and_(
        Scan.status == ScanStatus.QUEUED,
        Scan.updated_at <= now - timedelta(seconds=requeue_after_s),
    )
    for scan_id in session.scalars(select(Scan.id).where(stale)).all():
        if _change(session, and_(Scan.id == scan_id, stale), updated_at=now):
            result.resent_stale.append(scan_id)
    return result


def retry_scan(
    session: Session, store_code: str, scan_id: str, *, deadline_s: float = 300.0
) -> Scan:
    """failed → queued, with a fresh deadline; its photos are kept, so nothing needs to be
    uploaded again. Commits."""
    _, scan = get_scan(session, store_code, scan_id)
    if scan.status != ScanStatus.FAILED:
        raise Conflict(
            "scan_not_retryable", f"only failed scans can be retried; this one is {scan.status}"
        )
    if error_code(scan) in PHOTO_REJECTION_CODES:
        raise Conflict(
            "scan_not_retryable",
            "the photo itself was unusable and has been deleted; take and upload a new one",
        )
    now = utcnow()
    scan.status = ScanStatus.QUEUED
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


def add_photos(
    session: Session,
    storage: Storage,
    store_code: str,
    scan_id: str,
    photos: Sequence[PhotoToStore],
    *,
    quality: dict[str, Any] | None = None,
    deadline_s: float = 300.0,
    write_lock: AbstractContextManager[Any] | None = None,
) -> CreatedScan:
    """Further photos of a finished scan's bay ("the left end was cut off"): stored after its
    photos, its report kept in its history (:func:`report_history`), the scan
    queued to be analysed again from all its photos. Commits.

    A retry is answered with the scan, unchanged (``created`` False): photos the scan already
    holds (same SHA-256) are not added twice."""
    if not photos:
        raise ShelfscanError("no_photos", "send at least one photo", field="photos")
    _, scan = get_scan(session, store_code, scan_id)
    held = {photo.sha256 for photo in scan.photos}
    new = [photo for photo in photos if photo.sha256 not in held]
    if not new:
        return CreatedScan(scan, created=False)
    if scan.status not in (ScanStatus.DONE, ScanStatus.INCONCLUSIVE):
        raise Conflict(
            "scan_not_finished",
            f"photos can be added to a done or inconclusive scan; this one is {scan.status}",
        )
    if len(scan.photos) + len(new) > MAX_PHOTOS:
        raise TooLarge(
            "too_many_photos",
            f"at most {MAX_PHOTOS} photos per scan; it holds {len(scan.photos)}, "
            f"{len(new)} more sent",
            field="photos",
        )
    first = len(scan.photos)
    keys = [
        (photo_key if photo.prepared else upload_key)(store_code, scan_id, first + offset)
        for offset, photo in enumerate(new)
    ]
    written: list[str] = []
    try:
        _start_history(session, scan)  # the re-analysis becomes the next version
        for key, photo in zip(keys, new, strict=True):
            storage.put(key, photo.stored_bytes, photo.stored_content_type)
            written.append(key)
        for offset, (key, photo) in enumerate(zip(keys, new, strict=True)):
            scan.photos.append(
                ScanPhoto(
                    index=first + offset,
                    storage_key=key,
                    content_type=photo.stored_content_type,
                    width=photo.width,
                    height=photo.height,
                    size_bytes=len(photo.stored_bytes),
                    sha256=photo.sha256,
                )
            )
        if quality is not None:
            earlier = list((scan.quality or {}).get("photos") or [])
            scan.quality = {**quality, "photos": earlier + list(quality.get("photos") or [])}
        now = utcnow()
        scan.status = ScanStatus.QUEUED
        scan.report = None
        scan.error = None
        scan.attempts = 0
        scan.leased_by = None
        scan.lease_expires_at = None
        scan.started_at = None
        scan.finished_at = None
        scan.updated_at = now
        scan.deadline_at = now + timedelta(seconds=deadline_s)
        with write_lock or nullcontext():
            session.commit()
    except BaseException:
        session.rollback()
        _delete_quietly(storage, written)
        raise
    log.info("photos added to scan", extra={"scan_id": scan_id, "photos": len(new)})
    return CreatedScan(scan, created=True)


def require_done(scan: Scan) -> Scan:
    """The scan, if its results exist; refused (409) while it is queued, processing or failed."""
    if scan.status != ScanStatus.DONE:
        raise Conflict(
            "scan_not_ready", f"the scan is {scan.status}; results exist once it is done"
        )
    return scan
