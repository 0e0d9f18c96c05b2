"""The scans API end to end with a real in-process worker, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageEnhance
from sqlalchemy import func, inspect, select, update

from shelfscan.db.models import Scan, ScanPhoto
from shelfscan.db.session import session_scope
from shelfscan.planogram.model import Planogram
from shelfscan.services.scans import list_scans
from shelfscan.settings import Settings
from shelfscan.storage import get_storage
from tests.scans.conftest import BAY, PLANOGRAM, STORE
from tests.scans.photos import encode, jpeg_with_exif, png_bomb, png_header_only, shelf_scene
from tests.scans.standin import StandInAnalyzer, expected_facings, facing_xyxy

UPLOAD = f"/api/v1/stores/{STORE}/bays/{BAY}/scans"
PHOTO = shelf_scene(800, 600, seed=1)


def _jpeg(image: Image.Image = PHOTO) -> bytes:
    return encode(image, "JPEG", quality=90)


def upload(
    client: TestClient,
    files: list[tuple[str, bytes, str]] | None = None,
    *,
    key: str | None = None,
    url: str = UPLOAD,
    field: str = "photos",
) -> Any:
    files = files if files is not None else [("shelf.jpg", _jpeg(), "image/jpeg")]
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        url,
        files=[(field, (name, data, content_type)) for name, data, content_type in files],
        data={"taken_by": "jane"},
        headers=headers,
    )


def wait_for(client: TestClient, url: str, statuses: set[str], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url).json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"scan still {body['status']} after {timeout}s: {body}")
        time.sleep(0.05)


def _count_scans(settings: Settings) -> int:
    with session_scope(settings.resolved_database_url) as session:
        return session.scalar(select(func.count()).select_from(Scan)) or 0


def _stored_keys(settings: Settings) -> list[str]:
    return get_storage(settings).keys()


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_upload_is_analysed_in_the_background(
    client_factory, scan_settings: Settings, mode: str
) -> None:
    client = client_factory(upload_validation=mode)
    photo = jpeg_with_exif(PHOTO, orientation=1)
    response = upload(client, [("shelf.jpg", photo, "image/jpeg")])
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["created"] is True and accepted["status"] in {"queued", "processing", "done"}
    assert response.headers["Location"] == accepted["url"]
    assert accepted["url"] == f"/api/v1/stores/{STORE}/scans/{accepted['id']}"
    if mode == "full":
        assert accepted["quality"]["ok"] is True and accepted["quality"]["retake_hint"] is None
    elif accepted["status"] == "queued":
        assert accepted["quality"] is None  # the worker has not looked at the pixels yet
    assert accepted["taken_by"] == "jane"

    done = wait_for(client, accepted["url"], {"done", "failed"})
    assert done["status"] == "done", done["error"]
    assert done["attempts"] == 1 and done["error_code"] is None
    assert done["quality"]["ok"] is True and done["quality"]["retake_hint"] is None
    # Only the clean copy is kept: the phone's bytes (with their EXIF) are gone.
    keys = _stored_keys(scan_settings)
    assert not [k for k in keys if "/upload-" in k]
    assert not any(b"Jane Doe" in get_storage(scan_settings).get(k) for k in keys)
    expected = expected_facings(Planogram.model_validate(PLANOGRAM), 800, 600)
    assert done["report"]["facings"] == expected
    gaps = sorted(f["facing_id"] for f in expected if f["status"] == "gap")
    assert gaps and sorted(done["evidence"]) == gaps

    annotated = client.get(done["annotated_url"])
    assert annotated.status_code == 200 and annotated.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(annotated.content)).size == (800, 600)
    evidence = client.get(done["evidence"][gaps[0]])
    box = next(facing_xyxy(f) for f in expected if f["facing_id"] == gaps[0])
    crop = Image.open(io.BytesIO(evidence.content))
    assert crop.width == pytest.approx((box[2] - box[0]) * 1.3, abs=3)

    stored = client.get(done["photos"][0]["url"])
    assert stored.status_code == 200
    assert (
        b"Jane Doe" not in stored.content
        and len(Image.open(io.BytesIO(stored.content)).getexif()) == 0
    )
    assert done["photos"][0]["width"] == 800 and done["photos"][0]["sha256"]


def test_results_are_not_served_before_the_scan_is_done(client_factory) -> None:
    client = client_factory(StandInAnalyzer(delay_s=1.0))
    accepted = upload(client).json()
    response = client.get(f"{accepted['url']}/annotated.jpg")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "scan_not_ready"
    wait_for(client, accepted["url"], {"done"})
    assert client.get(f"{accepted['url']}/annotated.jpg").status_code == 200
    missing = client.get(f"{accepted['url']}/evidence/nope.jpg")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_idempotency_key_retry_returns_the_same_scan(client_factory, scan_settings) -> None:
    client = client_factory()
    first = upload(client, key="phone-123-attempt")
    second = upload(client, key="phone-123-attempt")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["created"] is True and second.json()["created"] is False
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count_scans(scan_settings) == 1
    wait_for(client, first.json()["url"], {"done"})
    photos = [k for k in _stored_keys(scan_settings) if "/photo-" in k]
    assert len(photos) == 1


def test_concurrent_retries_with_one_key_make_one_scan(client_factory, scan_settings) -> None:
    client = client_factory()
    results: list[Any] = []

    def send() -> None:
        results.append(upload(client, key="same-key"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in results} == {202}
    assert len({r.json()["id"] for r in results}) == 1
    assert [r.json()["created"] for r in results].count(True) == 1
    assert _count_scans(scan_settings) == 1
    wait_for(client, results[0].json()["url"], {"done"})
    assert len([k for k in _stored_keys(scan_settings) if "/photo-" in k]) == 1


def test_idempotency_key_reused_for_another_bay_is_refused(client_factory) -> None:
    client = client_factory()
    assert upload(client, key="k1").status_code == 202
    response = upload(client, key="k1", url=f"/api/v1/stores/{STORE}/bays/A02/scans")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_conflict"
    # The same key in another store is another request altogether.
    other_store = upload(client, key="k1", url=f"/api/v1/stores/S002/bays/{BAY}/scans")
    assert other_store.status_code == 202 and other_store.json()["created"] is True


def _bomb() -> bytes:
    return png_bomb(12_000)


BAD_UPLOADS: dict[str, tuple[Any, int, str]] = {
    "empty body": (lambda: [("a.jpg", b"", "image/jpeg")], 400, "empty_file"),
    "over 20 MB": (
        lambda: [("a.jpg", _jpeg() + b"\0" * (20 * 2**20), "image/jpeg")],
        413,
        "file_too_large",
    ),
    "content type lies": (
        lambda: [("a.jpg", encode(PHOTO, "PNG"), "image/jpeg")],
        415,
        "content_type_mismatch",
    ),
    "not an image": (
        lambda: [("a.pdf", b"%PDF-1.7\n1 0 obj", "application/pdf")],
        415,
        "unsupported_format",
    ),
    "side under 50 px": (
        lambda: [("a.png", encode(PHOTO.resize((40, 300)), "PNG"), "image/png")],
        422,
        "image_too_small",
    ),
    "side over 16000 px": (
        lambda: [("a.png", png_header_only(20_000, 100), "image/png")],
        422,
        "image_too_large",
    ),
    "decompression bomb": (lambda: [("a.png", _bomb(), "image/png")], 413, "decompression_bomb"),
    "truncated": (
        lambda: [("a.jpg", _jpeg()[: len(_jpeg()) // 2], "image/jpeg")],
        422,
        "truncated_image",
    ),
    "corrupt": (
        lambda: [("a.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "image/jpeg")],
        422,
        "corrupt_image",
    ),
    "second photo bad": (
        lambda: [("a.jpg", _jpeg(), "image/jpeg"), ("b.jpg", b"", "image/jpeg")],
        400,
        "empty_file",
    ),
    "no photos": (lambda: [], 400, "no_photos"),
}


def test_a_scan_waits_while_uploads_are_arriving(client_factory) -> None:
    """SHELFSCAN_UPLOAD_PRIORITY_S: the runner starts no scan while the web process is
    receiving an upload (here one held open), and starts it once none is."""
    client = client_factory()
    gate = client.app.state.scan_queue.gate
    with gate.upload():  # another phone's upload, still arriving
        accepted = upload(client).json()
        assert gate.receiving == 1  # this upload's own count is back off
        time.sleep(0.5)
        assert client.get(accepted["url"]).json()["status"] == "queued"
    assert gate.receiving == 0
    assert wait_for(client, accepted["url"], {"done", "failed"})["status"] == "done"
    refused = upload(client, [("empty.jpg", b"", "image/jpeg")])
    assert refused.status_code == 400 and gate.receiving == 0  # a refused upload too


class _UploadArrivesDuringAnalysis(StandInAnalyzer):
    """A stand-in analyzer during whose analysis another phone's upload starts arriving, and
    goes on arriving for ``hold_s`` after the analysis is over."""

    def __init__(self, hold_s: float) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.gate: Any = None
        self.released_at: float | None = None
        self._holding = threading.Event()

    def __call__(self, image: Image.Image, planogram: Planogram) -> Any:
        def hold() -> None:
            with self.gate.upload():
                self._holding.set()
                time.sleep(self.hold_s)
                self.released_at = time.monotonic()

        threading.Thread(target=hold, daemon=True).start()
        self._holding.wait(5)
        return super().__call__(image, planogram)


def test_a_scan_writes_its_result_after_the_uploads_arriving(client_factory, scan_settings) -> None:
    """A scan whose analysis ends while uploads are arriving writes its pictures and its
    result once none is (within SHELFSCAN_UPLOAD_PRIORITY_S): a niced analysis holding
    SQLite's write lock, or flushing files, mid-burst would hold the uploads' commits up."""
    analyzer = _UploadArrivesDuringAnalysis(hold_s=0.6)
    client = client_factory(analyzer)
    gate = client.app.state.scan_queue.gate
    analyzer.gate = gate
    accepted = upload(client).json()
    body = wait_for(client, accepted["url"], {"done", "failed"})
    seen_done = time.monotonic()
    assert body["status"] == "done"
    assert analyzer.released_at is not None and analyzer.released_at <= seen_done
    stored = _stored_keys(scan_settings)
    annotated = [key for key in stored if "annotated" in key]
    assert annotated, stored
    # The annotated picture was written after the upload had arrived, not during it.
    root = get_storage(scan_settings).root  # type: ignore[attr-defined]
    written = max(os.path.getmtime(root / key) for key in annotated)
    assert written >= time.time() - (time.monotonic() - analyzer.released_at) - 0.05


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_and_nothing_is_stored(
    case: str, mode: str, client_factory, scan_settings: Settings
) -> None:
    """Every listed bad input is refused by the upload answer itself, in both modes: the
    structural checks of fast mode catch all of these (a cut-off end included)."""
    make, status, code = BAD_UPLOADS[case]
    client = client_factory(upload_validation=mode)
    files = make()
    response = upload(client, files) if files else client.post(UPLOAD, data={"taken_by": "x"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if code not in {"no_photos"}:
        assert error["field"] and error["field"].startswith("photos")
    assert _count_scans(scan_settings) == 0
    assert _stored_keys(scan_settings) == []


def test_files_in_the_wrong_field_are_refused(client_factory, scan_settings) -> None:
    response = upload(client_factory(), field="image")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "unexpected_field",
        "message": "files must be sent in the 'photos' field, not 'image'",
        "field": "image",
    }
    assert _count_scans(scan_settings) == 0


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (f"/api/v1/stores/NOPE/bays/{BAY}/scans", 404, "store_not_found"),
        (f"/api/v1/stores/{STORE}/bays/NOPE/scans", 404, "bay_not_found"),
        (f"/api/v1/stores/{STORE}/bays/Z99/scans", 409, "no_planogram_assigned"),
    ],
)
def test_unknown_store_bay_or_unassigned_bay(client_factory, url, status, code) -> None:
    response = upload(client_factory(), url=url)
    assert response.status_code == status and response.json()["error"]["code"] == code


# Damage that only a full decode finds: the file's structure and end are intact.
def _jpeg_damaged_in_the_middle() -> bytes:
    good = _jpeg()
    third = len(good) // 3
    return good[:third] + b"\xff\x55" * 50 + good[third + 100 :]


def _tiff_cut_off() -> bytes:
    return encode(PHOTO, "TIFF")[:-4000]  # TIFF does not say where it ends


WORKER_REJECTS: dict[str, tuple[Any, str]] = {
    "jpeg damaged in the middle": (
        lambda: [("a.jpg", _jpeg_damaged_in_the_middle(), "image/jpeg")],
        "corrupt_image",
    ),
    "tiff cut off": (lambda: [("a.tif", _tiff_cut_off(), "image/tiff")], "truncated_image"),
    "second photo damaged": (
        lambda: [
            ("a.jpg", _jpeg(), "image/jpeg"),
            ("b.jpg", _jpeg_damaged_in_the_middle(), "image/jpeg"),
        ],
        "corrupt_image",
    ),
}


@pytest.mark.parametrize("case", sorted(WORKER_REJECTS))
def test_fast_mode_worker_fails_a_damaged_photo_and_keeps_nothing(
    case: str, client_factory, scan_settings: Settings
) -> None:
    make, code = WORKER_REJECTS[case]
    files = make()
    client = client_factory(upload_validation="fast")
    accepted = upload(client, files)
    assert accepted.status_code == 202, accepted.text
    failed = wait_for(client, accepted.json()["url"], {"failed", "done"})
    assert failed["status"] == "failed"
    assert failed["error_code"] == code
    assert failed["error"].startswith(f"{code}: photos[") and failed["report"] is None
    # Nothing of the photos is kept: no bytes, no rows (not even the good first photo's).
    assert _stored_keys(scan_settings) == []
    assert failed["photos"] == []
    with session_scope(scan_settings.resolved_database_url) as session:
        assert session.scalar(select(func.count()).select_from(ScanPhoto)) == 0
    retry = client.post(f"{failed['url']}/retry")
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "scan_not_retryable"
    # The same files are refused outright in full mode, with the same code.
    full = upload(client_factory(upload_validation="full"), files)
    assert full.status_code == 422 and full.json()["error"]["code"] == code


def test_received_bytes_are_never_served_before_the_worker_cleaned_them(
    client_factory, scan_settings: Settings
) -> None:
    client = client_factory(upload_validation="fast")
    client.app.state.scan_queue.stop()  # no worker: the photo stays as the phone sent it
    accepted = upload(client, [("shelf.jpg", jpeg_with_exif(PHOTO), "image/jpeg")]).json()
    assert accepted["status"] == "queued" and accepted["quality"] is None
    response = client.get(f"{accepted['url']}/photos/0")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "photo_not_ready"
    assert [k.rsplit("/", 1)[-1] for k in _stored_keys(scan_settings)] == ["upload-0"]


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_quality_feedback(client_factory, mode: str) -> None:
    """Full mode answers it with the 202; fast mode puts it on the scan once the worker has
    assessed the photo, before the analysis is finished."""
    dark = _jpeg(ImageEnhance.Brightness(PHOTO).enhance(0.15))
    client = client_factory(StandInAnalyzer(delay_s=2.0), upload_validation=mode)
    response = upload(client, [("dark.jpg", dark, "image/jpeg")])
    assert response.status_code == 202  # accepted anyway: staff decide whether to retake
    if mode == "full":
        quality = response.json()["quality"]
    else:
        deadline = time.monotonic() + 10
        while (scan := client.get(response.json()["url"]).json())["quality"] is None:
            assert time.monotonic() < deadline, "no quality feedback from the worker"
            time.sleep(0.05)
        assert scan["status"] == "processing"  # feedback before the analysis is done
        quality = scan["quality"]
    assert quality["ok"] is False
    assert [i["code"] for i in quality["photos"][0]["issues"]] == ["too_dark"]
    assert quality["retake_hint"].startswith("Retake:")


def test_two_photos_make_one_scan_with_both_analysed(client_factory, scan_settings) -> None:
    client = client_factory()
    files = [("a.jpg", _jpeg(), "image/jpeg"), ("b.png", encode(PHOTO, "PNG"), "image/png")]
    accepted = upload(client, files).json()
    done = wait_for(client, accepted["url"], {"done"})
    assert [p["index"] for p in done["photos"]] == [0, 1]
    keys = _stored_keys(scan_settings)
    assert any(k.endswith("annotated-1.jpg") for k in keys)
    # One report for the scan, merged from both photos (issue 13), and the bay overview.
    assert not any(k.endswith("report-1.json") for k in keys)
    assert any(k.endswith("overview.png") for k in keys)
    assert [p["index"] for p in done["report"]["photos"]] == [0, 1]


def test_list_and_filter_scans_scoped_by_store(client_factory, scan_settings) -> None:
    client = client_factory()
    first = upload(client).json()
    wait_for(client, first["url"], {"done"})
    second = upload(client).json()
    listing = client.get(f"/api/v1/stores/{STORE}/scans").json()
    assert listing["total"] == 2
    assert [s["id"] for s in listing["scans"]] == [second["id"], first["id"]]
    assert all("report" not in s for s in listing["scans"])
    wait_for(client, second["url"], {"done"})

    by_bay = client.get(f"/api/v1/stores/{STORE}/scans", params={"bay": BAY}).json()
    assert by_bay["total"] == 2 and {s["bay"] for s in by_bay["scans"]} == {BAY}
    done = client.get(f"/api/v1/stores/{STORE}/scans", params={"status": "done"}).json()
    assert done["total"] == 2
    failed = client.get(f"/api/v1/stores/{STORE}/scans", params={"status": "failed"}).json()
    assert failed["total"] == 0
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (
        client.get(f"/api/v1/stores/{STORE}/scans", params={"since": future}).json()["total"] == 0
    )
    window = {"since": past, "until": future}
    assert client.get(f"/api/v1/stores/{STORE}/scans", params=window).json()["total"] == 2
    page = client.get(f"/api/v1/stores/{STORE}/scans", params={"limit": 1, "offset": 1}).json()
    assert [s["id"] for s in page["scans"]] == [first["id"]]

    # Another store sees none of them, not even by id.
    assert client.get("/api/v1/stores/S002/scans").json()["total"] == 0
    other = client.get(f"/api/v1/stores/S002/scans/{first['id']}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "scan_not_found"
    assert client.get(f"/api/v1/stores/S002/scans/{first['id']}/photos/0").status_code == 404

    with session_scope(scan_settings.resolved_database_url) as session:
        listed = list_scans(session, STORE).scans
        assert len(listed) == 2
        # A listing shows no report, so it does not read one either (tens of KB of JSON each).
        assert all("report" in inspect(scan).unloaded for scan in listed)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_list_filters(client_factory, params, field) -> None:
    response = client_factory().get(f"/api/v1/stores/{STORE}/scans", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_failed_scan_can_be_retried(client_factory, scan_settings) -> None:
    client = client_factory(StandInAnalyzer(fail="detector exploded"))
    accepted = upload(client).json()
    failed = wait_for(client, accepted["url"], {"failed", "done"})
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: detector exploded"
    # Fix the "detector" and retry: the stored photo is analysed again, nothing re-uploaded.
    # (Fixed first: the retried scan may start before the 202 reaches this thread.)
    client.app.state.scan_queue.context.analyzer = StandInAnalyzer()
    not_failed = client.post(f"{accepted['url']}/retry")
    assert not_failed.status_code == 202
    wait_for(client, accepted["url"], {"done"})
    again = client.post(f"{accepted['url']}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "scan_not_retryable"


def test_deadline_turns_a_stuck_scan_failed(client_factory, scan_settings) -> None:
    quick_deadline = scan_settings.model_copy(update={"scan_deadline_s": 0.8})
    from tests.scans.conftest import make_app, test_job_settings

    app = make_app(quick_deadline, test_job_settings(), StandInAnalyzer(delay_s=3.0))
    with TestClient(app) as client:
        accepted = upload(client).json()
        failed = wait_for(client, accepted["url"], {"failed", "done"}, timeout=10)
        assert failed["status"] == "failed"
        assert "deadline exceeded" in failed["error"]
        time.sleep(3.0)  # the slow analysis finishes but must not overwrite the verdict
        assert client.get(accepted["url"]).json()["status"] == "failed"


def test_scan_of_a_lost_worker_is_requeued_and_finished(client_factory, scan_settings) -> None:
    client = client_factory()
    accepted = upload(client, key="lost").json()
    wait_for(client, accepted["url"], {"done"})
    # Pretend a worker took it and died: processing, attempt 1, lease already expired.
    with session_scope(scan_settings.resolved_database_url) as session:
        session.execute(
            update(Scan)
            .where(Scan.id == accepted["id"])
            .values(
                status="processing",
                attempts=1,
                report=None,
                leased_by="dead-worker:1",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    done = wait_for(client, accepted["url"], {"done", "failed"})
    assert done["status"] == "done" and done["attempts"] == 2 and done["report"]


def test_photos_rows_match_storage(client_factory, scan_settings) -> None:
    client = client_factory()
    accepted = upload(client).json()
    wait_for(client, accepted["url"], {"done"})
    storage = get_storage(scan_settings)
    with session_scope(scan_settings.resolved_database_url) as session:
        rows = session.scalars(select(ScanPhoto)).all()
        assert len(rows) == 1
        data = storage.get(rows[0].storage_key)
        assert __import__("hashlib").sha256(data).hexdigest() == rows[0].sha256
        assert rows[0].size_bytes == len(data)


class _PriorityRecorder(StandInAnalyzer):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def __call__(self, image: Image.Image, planogram: Planogram) -> Any:
        self.seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().__call__(image, planogram)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread niceness is Linux-only")
def test_analysis_threads_run_at_lower_priority_than_the_web_server(client_factory) -> None:
    recorder = _PriorityRecorder()
    client = client_factory(recorder, worker_nice=7)
    wait_for(client, upload(client).json()["url"], {"done"})
    process_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert recorder.seen == [min(19, process_nice + 7)]
    # Only the analysis thread was reniced, not the thread answering requests.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process_nice
