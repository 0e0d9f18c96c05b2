"""Scans that cannot be trusted end inconclusive, through the API and the real pipeline: the
demo store's drinks photo uploaded to its cereal bay ends ``inconclusive`` with the reason, the
retake instruction, the bay it most likely shows and no fix list; the cereal photo ends done
with actions and their evidence crops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.demo import DEMO_STORE_CODE, PHOTO_DIR, demo_planograms, seed_demo_store
from shelfscan.detection.replay import ReplayDetector, detections_to_document
from shelfscan.detections import Detections
from shelfscan.pipeline import Analyzer
from shelfscan.settings import Settings
from tests.scans.conftest import make_app, test_job_settings
from tests.scans.test_scans_api import wait_for


def _truth_detections(bay: str) -> Detections:
    """The photo's rendered truth as detections: a perfect detector, no model needed."""
    truth = json.loads((PHOTO_DIR / f"{bay}.truth.json").read_text())
    names = {p.id: p.name for pg in demo_planograms().values() for p in pg.products}
    return Detections.build(
        [o["xyxy"] for o in truth["objects"]],
        [names.get(o["product_id"], o["product_id"]) for o in truth["objects"]],
        [0.9] * len(truth["objects"]),
        image_width=truth["image"]["width"],
        image_height=truth["image"]["height"],
    )


@pytest.fixture
def demo_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        seed_demo_store(session, demo_planograms())
    return Settings(
        _env_file=None, data_dir=tmp_path / "data", database_url=sqlite_url, scan_deadline_s=60
    )


@pytest.fixture
def client_for(demo_settings: Settings) -> Iterator:
    clients: list[TestClient] = []

    def build(photo_bay: str) -> TestClient:
        analyzer = Analyzer(ReplayDetector(detections_to_document(_truth_detections(photo_bay))))
        app = make_app(demo_settings, test_job_settings(), analyzer)  # type: ignore[arg-type]
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def _upload(client: TestClient, bay: str, photo_bay: str) -> dict:
    photo = (PHOTO_DIR / f"{photo_bay}.jpg").read_bytes()
    response = client.post(
        f"/api/v1/stores/{DEMO_STORE_CODE}/bays/{bay}/scans",
        files=[("photos", (f"{photo_bay}.jpg", photo, "image/jpeg"))],
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_another_bays_photo_ends_inconclusive_with_no_fix_list(client_for) -> None:
    client = client_for("drinks")
    accepted = _upload(client, "cereal", photo_bay="drinks")
    scan = wait_for(client, accepted["url"], {"done", "failed", "inconclusive"})

    assert scan["status"] == "inconclusive"
    assert scan["actions"] == [] and scan["evidence"] == {} and scan["report"] is None
    trust = scan["trust"]
    assert trust["conclusive"] is False
    assert trust["reason"] == "wrong_bay"
    assert trust["likely_bay"]["bay"] == "drinks"
    assert "drinks" in trust["instruction"]
    # Results of an inconclusive scan are not served as if it were done.
    assert client.get(f"{accepted['url']}/evidence/cereal-s1-p1.jpg").status_code in (404, 409)


def test_the_right_bays_photo_ends_done_with_actions_and_their_crops(client_for) -> None:
    client = client_for("cereal")
    accepted = _upload(client, "cereal", photo_bay="cereal")
    scan = wait_for(client, accepted["url"], {"done", "failed", "inconclusive"})

    assert scan["status"] == "done", scan.get("trust")
    assert scan["trust"]["conclusive"] is True
    report = scan["report"]
    problems = [f for f in report["facings"] if f["status"] in ("gap", "misplaced")]
    assert problems, "the demo cereal photo has gaps or misplaced products in its truth"
    assert scan["actions"] and [a["number"] for a in scan["actions"]] == list(
        range(1, len(scan["actions"]) + 1)
    )
    covered = {fid for a in scan["actions"] for fid in a["facing_ids"]}
    assert {f["facing_id"] for f in problems} <= covered
    for action in scan["actions"]:
        assert action["text"] and "CER-" not in action["text"]  # names, never codes
        if action["kind"] in ("fill", "replace"):
            assert action["location_text"] in action["text"]
        for crop in action["evidence"]:
            response = client.get(crop["url"])
            assert response.status_code == 200, crop
            assert response.headers["content-type"] == "image/jpeg"
    assert any(a["evidence"] for a in scan["actions"] if a["kind"] != "photograph")
