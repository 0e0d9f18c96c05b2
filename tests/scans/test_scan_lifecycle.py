"""The scan lifecycle of :mod:`shelfscan.services.scans`, one transition at a time, on both
databases: who may move a scan, to which status, and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.imaging import UploadRejected
from shelfscan.planogram.model import Planogram
from shelfscan.services import scans
from shelfscan.services.errors import Conflict, NotFound, ShelfscanError
from shelfscan.services.scans import ScanStatus
from shelfscan.storage import LocalStorage
from tests.scans.conftest import BAY, PLANOGRAM, STORE, seed_store
from tests.scans.photos import encode, shelf_scene
from tests.scans.standin import StandInAnalyzer


@pytest.fixture
def scan_id(database_url: str, tmp_path: Path) -> str:
    from shelfscan.imaging import precheck_photo

    seed_store(database_url)
    photo = precheck_photo(encode(shelf_scene(), "JPEG"), "image/jpeg", field_name="photos[0]")
    with session_scope(database_url) as session:
        target, _ = scans.resolve_target(session, STORE, BAY)
        created = scans.create_scan(session, LocalStorage(tmp_path / "files"), target, [photo])
        return created.scan.id


def _status(database_url: str, scan_id: str) -> str:
    with session_scope(database_url) as session:
        return session.scalar(select(Scan.status).where(Scan.id == scan_id)) or ""


def test_statuses_are_stored_as_the_same_strings(database_url: str, scan_id: str) -> None:
    with session_scope(database_url) as session:
        stored = session.execute(
            text("SELECT status FROM scans WHERE id = :id"), {"id": scan_id}
        ).scalar()
    assert stored == "queued" == ScanStatus.QUEUED
    assert [status.value for status in ScanStatus] == [
        "queued",
        "processing",
        "done",
        "inconclusive",
        "failed",
    ]


def test_claim_finish_and_only_the_holder_moves_the_scan(database_url: str, scan_id: str) -> None:
    with session_scope(database_url) as session:
        claim = scans.claim(session, scan_id, "worker-a", lease_s=60)
    assert claim is not None and claim.attempts == 1 and not claim.deadline_passed
    assert _status(database_url, scan_id) == ScanStatus.PROCESSING
    with session_scope(database_url) as session:
        assert scans.claim(session, scan_id, "worker-b", lease_s=60) is None  # lease is live
        assert not scans.finish(session, scan_id, "worker-b", {"facings": []})
        assert scans.renew_lease(session, scan_id, "worker-a", lease_s=60)
        assert scans.finish(session, scan_id, "worker-a", {"facings": []})
    assert _status(database_url, scan_id) == ScanStatus.DONE
    with session_scope(database_url) as session:
        scan = session.get(Scan, scan_id)
        assert scan is not None and scan.leased_by is None and scan.lease_expires_at is None
        # Stored times come back aware, in UTC, on SQLite as on PostgreSQL.
        assert scan.finished_at is not None and scan.finished_at.tzinfo is not None
        assert scan.finished_at.utcoffset() == timedelta(0)
        assert not scans.fail(session, scan_id, "worker-a", "too late")  # done stays done


def test_release_queues_again_and_retry_needs_a_failed_scan(
    database_url: str, scan_id: str
) -> None:
    with session_scope(database_url) as session:
        scans.claim(session, scan_id, "worker-a", lease_s=60)
        assert scans.release(session, scan_id, "worker-a", "retrying: detector busy")
    assert _status(database_url, scan_id) == ScanStatus.QUEUED
    with session_scope(database_url) as session:
        with pytest.raises(Conflict) as refused:
            scans.retry_scan(session, STORE, scan_id)
        assert refused.value.code == "scan_not_retryable" and refused.value.http_status == 409
        scans.claim(session, scan_id, "worker-b", lease_s=60)
        assert scans.fail(session, scan_id, "worker-b", "ValueError: boom")
    with session_scope(database_url) as session:
        scan = scans.retry_scan(session, STORE, scan_id)
        assert scan.status == ScanStatus.QUEUED and scan.attempts == 0 and scan.error is None


def test_reap_fails_overdue_and_requeues_lost_scans(database_url: str, scan_id: str) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    with session_scope(database_url) as session:
        scans.claim(session, scan_id, "worker-a", lease_s=1)
    with session_scope(database_url) as session:
        lost = scans.reap(session, deadline_s=300, max_attempts=3, requeue_after_s=600, now=later)
    assert lost.requeued_lost == [scan_id] and lost.failed_deadline == []
    assert _status(database_url, scan_id) == ScanStatus.QUEUED
    with session_scope(database_url) as session:
        overdue = scans.reap(
            session,
            deadline_s=300,
            max_attempts=3,
            requeue_after_s=600,
            now=later + timedelta(seconds=300),
        )
    assert overdue.failed_deadline == [scan_id]
    with session_scope(database_url) as session:
        scan = session.get(Scan, scan_id)
        assert scan is not None and scan.status == ScanStatus.FAILED
        assert scans.error_code(scan) == "deadline_exceeded"


def test_unknown_scan_is_a_not_found_error(database_url: str, scan_id: str) -> None:
    with session_scope(database_url) as session, pytest.raises(NotFound) as missing:
        scans.get_scan(session, STORE, "nope")
    assert missing.value.code == "scan_not_found" and missing.value.http_status == 404


def test_one_error_hierarchy() -> None:
    rejected = UploadRejected(
        "file_too_large", "photos[0]: too big", field="photos[0]", status_code=413
    )
    assert isinstance(rejected, ShelfscanError)
    assert (rejected.code, rejected.http_status, rejected.field) == (
        "file_too_large",
        413,
        "photos[0]",
    )
    assert rejected.as_dict() == {
        "code": "file_too_large",
        "message": "photos[0]: too big",
        "field": "photos[0]",
    }


def test_evidence_boxes_come_from_the_typed_report() -> None:
    from PIL import Image

    planogram = Planogram.model_validate(PLANOGRAM)
    analysis = StandInAnalyzer()(Image.new("RGB", (800, 600)), planogram)
    report = analysis.report
    boxes = scans.evidence_boxes(report)
    gaps = {f.facing_id for f in report.facings if f.status == "gap"}
    assert gaps and set(boxes) == gaps
    facing = report.facing(sorted(gaps)[0])
    box = facing.evidence.box
    assert boxes[facing.facing_id] == (box.x, box.y, box.x + box.w, box.y + box.h)
    # The stored JSON document gives the same boxes.
    assert scans.evidence_boxes(report.model_dump(mode="json")) == boxes
