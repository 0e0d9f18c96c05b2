"""Corrections end to end on the demo store's cereal photo: a detector that names both CER-04
packs CER-07 (a flavour confusion), a person corrects one facing, the report gets a new
version with the verdict corrected and marked and the scores and actions recomputed; the crop
joins CER-04's gallery and the next scan of the same photo names both packs right."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shelfscan.api.app import create_app
from shelfscan.corrections.analyzer import GallerySource, with_gallery
from shelfscan.corrections.models import GalleryEntry, ReportVersion
from shelfscan.db.migrate import upgrade
from shelfscan.db.models import Scan, ScanPhoto
from shelfscan.db.session import session_scope
from shelfscan.detections import Detections
from shelfscan.pipeline import Analyzer, analyze_detections
from shelfscan.planogram.model import Planogram
from shelfscan.services.scans import photo_key
from shelfscan.services.stores import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, Settings
from shelfscan.storage import get_storage

DEMO = PROJECT_ROOT / "planograms" / "demo-store"
STORE, BAY = "S001", "cereal"
TRUE, CONFUSED = "CER-04", "CER-07"


def confused_detections(image: Image.Image) -> Detections:
    """The photo's true boxes, every CER-04 pack named CER-07."""
    truth = json.loads((DEMO / "photos" / "cereal.truth.json").read_text())
    boxes, labels = [], []
    for item in truth["objects"]:
        boxes.append(item["xyxy"])
        labels.append(CONFUSED if item["product_id"] == TRUE else item["product_id"])
    return Detections.build(
        np.array(boxes),
        labels,
        np.full(len(boxes), 0.9),
        image_width=image.width,
        image_height=image.height,
    )


class ConfusedDetector:
    def detect(self, image: Image.Image) -> Detections:
        return confused_detections(image)


@pytest.fixture
def world(settings: Settings) -> dict[str, Any]:
    upgrade(settings.resolved_database_url)
    planogram = Planogram.model_validate_json((DEMO / "cereal.json").read_text())
    image = Image.open(DEMO / "photos" / "cereal.jpg").convert("RGB")
    analysis = analyze_detections(image, planogram, confused_detections(image))
    scan_id = str(uuid.uuid4())
    storage = get_storage(settings)
    data = io.BytesIO()
    image.save(data, "JPEG", quality=92)
    storage.put(photo_key(STORE, scan_id, 0), data.getvalue(), "image/jpeg")
    with session_scope(settings.resolved_database_url) as session:
        store = create_store(session, STORE, "Store", "north")
        bay = create_bay(session, store, BAY)
        version = publish_planogram(session, planogram)
        assign_planogram(session, bay, version, date.today() - timedelta(days=1))
        session.add(
            Scan(
                id=scan_id,
                store_id=store.id,
                bay_id=bay.id,
                planogram_version_id=version.id,
                status="done",
                report=analysis.report.model_dump(mode="json"),
            )
        )
        session.add(
            ScanPhoto(
                scan_id=scan_id,
                index=0,
                storage_key=photo_key(STORE, scan_id, 0),
                content_type="image/jpeg",
                width=image.width,
                height=image.height,
                size_bytes=len(data.getvalue()),
                sha256="0" * 64,
            )
        )
    return {"scan_id": scan_id, "planogram": planogram, "image": image, "report": analysis.report}


def _cer04_facings(report: Any) -> list[Any]:
    return [f for f in report["facings"] if f["product_id"] == TRUE]


def test_a_correction_makes_a_new_marked_version_and_teaches_the_next_scan(
    settings: Settings, world: dict[str, Any]
) -> None:
    before = world["report"].model_dump(mode="json")
    wrong = _cer04_facings(before)
    assert len(wrong) == 2 and all(f["status"] == "misplaced" for f in wrong)
    url = f"/api/v1/stores/{STORE}/scans/{world['scan_id']}"
    with TestClient(create_app(settings)) as client:
        found = client.get(f"{url}/products", params={"q": "cer-04"}).json()
        assert [p["product_id"] for p in found] == [TRUE]
        answer = client.post(
            f"{url}/corrections",
            json={"kind": "product", "facing_id": wrong[0]["facing_id"], "product_id": TRUE},
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["report_version"] == 2
        assert body["gallery_entry_id"] is not None
        correction = body["correction"]
        assert (correction["status_before"], correction["status_after"]) == ("misplaced", "ok")
        assert (correction["product_before"], correction["product_after"]) == (CONFUSED, TRUE)
        assert correction["created_by"]
        after = body["scan"]["report"]
        corrected = next(f for f in after["facings"] if f["facing_id"] == wrong[0]["facing_id"])
        assert corrected["status"] == "ok" and "corrected by" in corrected["reason"]
        assert after["counts"]["ok"] == before["counts"]["ok"] + 1
        assert after["counts"]["misplaced"] == before["counts"]["misplaced"] - 1
        assert after["scores"]["on_shelf_availability"] > before["scores"]["on_shelf_availability"]
        assert len(after["actions"]) >= 1
        # The scan itself now answers with the corrected verdict; version 1 is kept.
        assert client.get(url).json()["report"]["counts"] == after["counts"]
        original = client.get(f"{url}/reports/1").json()
        assert original["counts"] == before["counts"]
        listing = client.get(f"{url}/corrections").json()
        assert [v["version"] for v in listing["versions"]] == [1, 2]
        # Unknown product and unknown facing: clear 400s naming the field.
        bad = client.post(
            f"{url}/corrections",
            json={"kind": "product", "facing_id": wrong[1]["facing_id"], "product_id": "NOPE"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "product_id"
        bad = client.post(f"{url}/corrections", json={"kind": "gap", "facing_id": "no-such"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "facing_id"
        queue = client.get(f"/api/v1/stores/{STORE}/review-queue").json()
        assert queue and all(item["facing_id"] != wrong[0]["facing_id"] for item in queue)
        accuracy = client.get(
            f"/api/v1/stores/{STORE}/field-accuracy", params={"by": "product"}
        ).json()
        assert accuracy == [
            {"key": CONFUSED, "reviewed": 1, "confirmed": 0, "corrected": 1, "accuracy": 0.0}
        ]
    with session_scope(settings.resolved_database_url) as session:
        assert session.query(ReportVersion).count() == 2
        entry = session.query(GalleryEntry).one()
        assert entry.product_key == TRUE
        assert get_storage(settings).exists(entry.storage_key)

    # The next scan of the same photo: both CER-04 packs are named right.
    analyzer = with_gallery(Analyzer(ConfusedDetector()), settings.resolved_database_url)  # type: ignore[arg-type]
    rescan = analyzer(world["image"], world["planogram"]).report.model_dump(mode="json")
    assert [f["status"] for f in _cer04_facings(rescan)] == ["ok", "ok"]
    others = {f["facing_id"]: f["status"] for f in rescan["facings"] if f["product_id"] != TRUE}
    assert others == {
        f["facing_id"]: f["status"] for f in before["facings"] if f["product_id"] != TRUE
    }


def test_without_gallery_entries_the_scan_is_unchanged(
    settings: Settings, world: dict[str, Any]
) -> None:
    source = GallerySource(settings.resolved_database_url)
    assert len(source.current()) == 0
    analyzer = with_gallery(Analyzer(ConfusedDetector()), settings.resolved_database_url)  # type: ignore[arg-type]
    again = analyzer(world["image"], world["planogram"]).report
    assert [f.status for f in again.facings] == [f.status for f in world["report"].facings]


def test_new_product_from_a_crop_and_not_a_gap(settings: Settings, world: dict[str, Any]) -> None:
    report = world["report"].model_dump(mode="json")
    url = f"/api/v1/stores/{STORE}/scans/{world['scan_id']}"
    ok = next(f for f in report["facings"] if f["status"] == "ok")
    with TestClient(create_app(settings)) as client:
        made = client.post(
            f"{url}/corrections",
            json={
                "kind": "product",
                "facing_id": ok["facing_id"],
                "new_product_name": "Oat Rings Limited",
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["correction"]["product_after"] == "new-oat-rings-limited"
        found = client.get(f"{url}/products", params={"q": "oat rings lim"}).json()
        assert found == [
            {
                "product_id": "new-oat-rings-limited",
                "name": "Oat Rings Limited",
                "gtin": None,
                "source": "gallery",
            }
        ]
        gap = client.post(f"{url}/corrections", json={"kind": "gap", "facing_id": ok["facing_id"]})
        assert gap.json()["scan"]["report"]["counts"]["gap"] == report["counts"]["gap"] + 1
        back = client.post(
            f"{url}/corrections", json={"kind": "not_gap", "facing_id": ok["facing_id"]}
        )
        assert back.json()["report_version"] == 4
        assert back.json()["scan"]["report"]["counts"]["gap"] == report["counts"]["gap"]
