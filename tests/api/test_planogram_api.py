from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shelfscan.api.app import create_app
from shelfscan.db import models
from shelfscan.db.session import session_scope
from shelfscan.planogram.canonical import dump_canonical
from shelfscan.settings import DetectorBackend, Settings
from tests.store.test_planogram_store import small_planogram


@pytest.fixture
def client(settings: Settings, database_url: str) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"database_url": database_url, "detector_backend": DetectorBackend.REPLAY}
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def _count(url: str, model: type) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_canonical_then_edit_and_fetch_versions(client: TestClient) -> None:
    created = client.post("/api/v1/planograms", content=dump_canonical(small_planogram()))
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["facings"] == 4

    edited = client.post(
        "/api/v1/planograms?comment=more%20cola",
        content=dump_canonical(small_planogram(cola_facings=3)),
    )
    assert edited.json()["version"] == 2

    v1 = client.get("/api/v1/planograms/cereal-1?version=1")
    latest = client.get("/api/v1/planograms/cereal-1")
    assert v1.json()["positions"][1]["hfacings"] == 2
    assert latest.json()["positions"][1]["hfacings"] == 3
    assert latest.headers["X-Planogram-Version"] == "2"
    listed = client.get("/api/v1/planograms").json()
    assert listed == [{"planogram": "cereal-1", "name": "Cereal bay", "latest_version": 2}]
    versions = client.get("/api/v1/planograms/cereal-1/versions").json()
    assert [(v["version"], v["comment"]) for v in versions] == [(1, None), (2, "more cola")]


def test_azure_sample_imports_by_multipart_and_exports_as_azure(
    client: TestClient, azure_sample: Path
) -> None:
    data = (azure_sample / "sample_planogram.json").read_bytes()
    created = client.post(
        "/api/v1/planograms?id=crackers",
        files={"file": ("sample_planogram.json", data, "application/json")},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["positions"], body["products"], body["fixtures"]) == (58, 13, 6)
    assert body["source_format"] == "azure"
    exported = client.get("/api/v1/planograms/crackers/export?format=azure").json()
    original = json.loads(data)
    assert len(exported["positions"]) == len(original["Positions"])
    assert {p["name"] for p in exported["products"]} == {p["Name"] for p in original["Products"]}


def test_bad_planogram_is_rejected_with_located_problems_and_nothing_stored(
    client: TestClient, database_url: str
) -> None:
    bad = json.loads(dump_canonical(small_planogram()))
    bad["positions"][0]["product_id"] = "ghost"
    bad["products"][1]["w"] = -4
    response = client.post("/api/v1/planograms", content=json.dumps(bad))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_planogram"
    locations = [p["location"] for p in error["problems"]]
    assert any(loc.startswith("positions[0]") for loc in locations), locations
    assert any(loc.startswith("products[1]") for loc in locations), locations
    assert all(set(p) == {"location", "problem"} for p in error["problems"])
    assert _count(database_url, models.PlanogramVersion) == 0

    validated = client.post("/api/v1/planograms:validate", content=json.dumps(bad))
    assert validated.status_code == 422
    assert validated.json()["error"]["problems"] == error["problems"]
    ok = client.post("/api/v1/planograms:validate", content=dump_canonical(small_planogram()))
    assert ok.json() == {"valid": True, "problems": []}
    assert _count(database_url, models.PlanogramVersion) == 0


def test_empty_and_garbage_bodies_name_the_problem(client: TestClient) -> None:
    empty = client.post("/api/v1/planograms", content=b"")
    assert empty.status_code == 422
    assert empty.json()["error"]["problems"][0]["location"] == "file"
    garbage = client.post(
        "/api/v1/planograms?format=canonical", content=b'{"id": "x", "width": 10,'
    )
    assert garbage.status_code == 422
    assert "line 1" in garbage.json()["error"]["problems"][0]["location"]


def test_stores_bays_and_assignments(client: TestClient) -> None:
    client.post("/api/v1/planograms", content=dump_canonical(small_planogram()))
    client.post("/api/v1/planograms", content=dump_canonical(small_planogram(cola_facings=3)))
    assert (
        client.post("/api/v1/stores", json={"code": "S001", "name": "Main St"}).status_code == 201
    )
    assert client.post("/api/v1/stores", json={"code": "S001", "name": "x"}).status_code == 409
    assert client.post("/api/v1/stores/S001/bays", json={"code": "A01"}).status_code == 201
    assigned = client.post(
        "/api/v1/stores/S001/bays/A01/assignments",
        json={"planogram": "cereal-1", "version": 1, "effective_from": "2020-01-01"},
    )
    assert assigned.status_code == 201, assigned.text
    client.post(
        "/api/v1/stores/S001/bays/A01/assignments",
        json={"planogram": "cereal-1", "effective_from": "2021-01-01"},
    )
    bay = client.get("/api/v1/stores/S001/bays/A01").json()
    assert bay["current_planogram"]["version"] == 2
    assert [a["effective_to"] for a in bay["assignments"]] == ["2021-01-01", None]
    old = client.get("/api/v1/stores/S001/bays/A01/planogram?on=2020-06-01").json()
    assert old["version"] == 1
    missing = client.get("/api/v1/stores/S404/bays")
    assert missing.status_code == 404 and "S404" in missing.json()["error"]["message"]
    bad_code = client.post("/api/v1/stores", json={"code": "has space", "name": "x"})
    assert bad_code.status_code == 422
    assert bad_code.json()["error"]["problems"][0]["location"] == "body.code"


def test_render_returns_a_png_of_the_requested_width(client: TestClient) -> None:
    import io

    from PIL import Image

    client.post("/api/v1/planograms", content=dump_canonical(small_planogram()))
    response = client.get("/api/v1/planograms/cereal-1/render.png?width=500")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.width == 500
    assert image.height == round(500 * 60 / 100)
    assert client.get("/api/v1/planograms/nope/render.png").status_code == 404
