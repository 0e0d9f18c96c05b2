"""A long bay photographed in parts, through the scans API and the real worker: the photos
of a scan (and photos added to it later) become one report, merged in planogram space."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shelfscan.db.models import Bay, BayAssignment, PlanogramVersion, Store
from shelfscan.db.models import Planogram as PlanogramRow
from shelfscan.db.session import session_scope
from shelfscan.detections import Detections
from shelfscan.pipeline import analyze_detections
from shelfscan.planogram.model import Planogram
from shelfscan.settings import Settings
from shelfscan.storage import get_storage
from tests.compliance.helpers import make_planogram, shoot
from tests.compliance.test_merge import SHELF, crop
from tests.scans.conftest import STORE
from tests.scans.photos import encode, shelf_scene
from tests.scans.test_scans_api import wait_for

LONG_BAY = "L01"
UPLOAD = f"/api/v1/stores/{STORE}/bays/{LONG_BAY}/scans"
GOOD_LIGHT = {"metrics": {"brightness": 150.0, "sharpness": 400.0}}


def long_planogram() -> Planogram:
    planogram = make_planogram([SHELF, SHELF[::-1], SHELF[3:] + SHELF[:3]])
    return planogram.model_copy(update={"id": "long-bay", "name": "Long bay"})


class CropAnalyzer:
    """The real pipeline after detection: each photo's detections are those of one camera
    shot of the whole bay (``shoot``) cut to the part the photo shows, recognised by the
    photo's width. A width in ``stray`` is a photo of another bay."""

    def __init__(self, planogram: Planogram, gaps: set[str] = frozenset()) -> None:
        self.whole = shoot(planogram, remove=set(gaps))
        self.stray_bay = make_planogram([list("UVWXYZ"), list("ZYXWVU")])
        self.parts: dict[int, tuple[float, float]] = {}
        self.stray: set[int] = set()
        # Cleared to hold analysis (a scan stays "being analysed" for as long as a test needs).
        self.running = threading.Event()
        self.running.set()

    def photo(self, start: float, end: float) -> bytes:
        """A photo showing ``start..end`` of the bay's width."""
        width = round((end - start) * self.whole.image_width)
        while width in self.parts or width in self.stray:
            width += 1
        self.parts[width] = (start, end)
        return encode(shelf_scene(width, self.whole.image_height, seed=width), "JPEG")

    def stray_photo(self) -> bytes:
        width = 901
        self.stray.add(width)
        return encode(shelf_scene(width, 700, seed=3), "JPEG")

    def detections(self, image: Image.Image) -> Detections:
        if image.width in self.stray:
            return shoot(self.stray_bay, image=(image.width, image.height), scale=(60, 24))
        start, _ = self.parts[image.width]
        full = self.whole.image_width
        return crop(self.whole, start * full, start * full + image.width)

    def __call__(
        self,
        image: Image.Image,
        planogram: Planogram,
        *,
        image_quality: Any = None,
        candidates: Any = None,
        trust_thresholds: Any = None,
    ) -> Any:
        assert self.running.wait(timeout=60), "analysis held for over a minute"
        return analyze_detections(
            image,
            planogram,
            self.detections(image),
            image_quality=GOOD_LIGHT,
            candidates=candidates,
            trust_thresholds=trust_thresholds,
        )


@pytest.fixture
def planogram(scan_settings: Settings) -> Planogram:
    """The long bay ``L01`` in the demo store, with its planogram assigned."""
    planogram = long_planogram()
    with session_scope(scan_settings.resolved_database_url) as session:
        store = session.query(Store).filter_by(code=STORE).one()
        bay = Bay(store_id=store.id, code=LONG_BAY, name="Long bay")
        row = PlanogramRow(key="long-bay", name="Long bay")
        session.add_all([bay, row])
        session.flush()
        version = PlanogramVersion(
            planogram_id=row.id,
            version=1,
            document=planogram.model_dump(mode="json"),
            sha256="1" * 64,
        )
        session.add(version)
        session.flush()
        session.add(
            BayAssignment(
                store_id=store.id,
                bay_id=bay.id,
                planogram_version_id=version.id,
                effective_from=date.today() - timedelta(days=1),
            )
        )
    return planogram


def post(client: TestClient, url: str, photos: list[bytes], key: str | None = None) -> Any:
    return client.post(
        url,
        files=[("photos", (f"part-{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)],
        headers={"Idempotency-Key": key} if key else {},
    )


def test_two_photos_of_a_long_bay_make_one_report(client_factory, planogram, scan_settings):
    analyzer = CropAnalyzer(planogram, gaps={"S1-03", "S3-10"})
    client = client_factory(analyzer)
    left, right = analyzer.photo(0.0, 0.6), analyzer.photo(0.4, 1.0)
    accepted = post(client, UPLOAD, [left, right])
    assert accepted.status_code == 202, accepted.text
    scan = wait_for(client, accepted.json()["url"], {"done", "inconclusive", "failed"})
    assert scan["status"] == "done", scan
    report = scan["report"]
    assert report["schema_version"] == "1.3"
    assert report["counts"]["facings"] == 36
    assert report["counts"]["not_visible"] == 0
    assert report["counts"]["unexpected"] == 0
    gaps = {f["facing_id"] for f in report["facings"] if f["status"] == "gap"}
    assert gaps == {"S1-03", "S3-10"}
    assert {f["evidence"]["photo"] for f in report["facings"]} == {0, 1}
    assert [(p["index"], p["used"]) for p in report["photos"]] == [(0, True), (1, True)]
    assert sum(p["facings_chosen"] for p in report["photos"]) == 36
    # The gap on the right end comes from the right photo, and its evidence crop too.
    right_gap = next(f for f in report["facings"] if f["facing_id"] == "S3-10")
    assert right_gap["evidence"]["photo"] == 1
    assert {a["kind"] for a in scan["actions"]} == {"fill"}
    for action in scan["actions"]:
        for evidence in action["evidence"]:
            assert client.get(evidence["url"]).status_code == 200
    url = scan["url"]
    for photo in (0, 1):
        annotated = client.get(f"{url}/annotated.jpg", params={"photo": photo})
        assert annotated.status_code == 200 and annotated.content[:2] == b"\xff\xd8"
    overview = client.get(f"{url}/overview.png")
    assert overview.status_code == 200 and overview.content[:4] == b"\x89PNG"
    assert overview.headers["content-type"] == "image/png"
    keys = get_storage(scan_settings).keys()
    assert not any(k.endswith("report-1.json") for k in keys)  # one report, not one a photo


def test_a_photo_added_later_completes_the_report_and_keeps_history(client_factory, planogram):
    analyzer = CropAnalyzer(planogram)
    client = client_factory(analyzer)
    first = post(client, UPLOAD, [analyzer.photo(0.0, 0.7)]).json()
    before = wait_for(client, first["url"], {"done", "inconclusive", "failed"})
    assert before["status"] == "done", before
    hidden = before["report"]["counts"]["not_visible"]
    assert hidden > 0
    assert "photograph" in {a["kind"] for a in before["actions"]}

    photos_url = f"{first['url']}/photos"
    right = analyzer.photo(0.5, 1.0)
    analyzer.running.clear()  # the re-analysis waits, so the next request finds it busy
    try:
        added = post(client, photos_url, [right], key="add-right")
        assert added.status_code == 202 and added.json()["created"] is True
        assert added.json()["status"] == "queued"
        # Not while it is being analysed again.
        busy = post(client, photos_url, [analyzer.photo(0.2, 0.8)])
    finally:
        analyzer.running.set()
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "scan_not_finished"
    after = wait_for(client, first["url"], {"done", "inconclusive", "failed"})
    assert after["status"] == "done", after
    assert [p["index"] for p in after["photos"]] == [0, 1]
    assert after["report"]["counts"]["not_visible"] == 0
    assert "photograph" not in {a["kind"] for a in after["actions"]}

    # A retry of the same request changes nothing; the same key with other photos is refused.
    replay = post(client, photos_url, [right], key="add-right")
    assert replay.status_code == 202 and replay.json()["created"] is False
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(replay.json()["photos"]) == 2
    reused = post(client, photos_url, [analyzer.photo(0.1, 0.3)], key="add-right")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"

    history = client.get(f"{first['url']}/reports").json()
    assert [v["version"] for v in history["earlier"]] == [1]
    earlier = client.get(history["earlier"][0]["url"]).json()
    assert earlier["counts"]["not_visible"] == hidden
    assert earlier == before["report"]
    # One history: the re-analysis is version 2, the scan's current report.
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert client.get(f"{first['url']}/reports/2").json() == after["report"]
    assert client.get(f"{first['url']}/reports/3").status_code == 404

    too_many = post(client, photos_url, [analyzer.photo(0.0, 0.1 + i / 100) for i in range(7)])
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "too_many_photos"


def test_one_bad_photo_of_three_is_left_out(client_factory, planogram):
    analyzer = CropAnalyzer(planogram)
    client = client_factory(analyzer)
    photos = [analyzer.photo(0.0, 0.55), analyzer.stray_photo(), analyzer.photo(0.45, 1.0)]
    accepted = post(client, UPLOAD, photos).json()
    scan = wait_for(client, accepted["url"], {"done", "inconclusive", "failed"})
    assert scan["status"] == "done", scan
    report = scan["report"]
    assert [p["used"] for p in report["photos"]] == [True, False, True]
    assert report["photos"][1]["left_out_reason"] in {"wrong_bay", "no_shelf", "does_not_fit"}
    assert report["counts"]["not_visible"] == 0
    assert {f["evidence"]["photo"] for f in report["facings"]} == {0, 2}
    left_out = client.get(f"{scan['url']}/annotated.jpg", params={"photo": 1})
    assert left_out.status_code == 200
