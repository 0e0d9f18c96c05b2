"""Codes follow the identifier grammar, names refuse control characters, unknown fields are
refused on shelfscan's own bodies (issue 19, case 11); each 422 names the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.planogram.canonical import planogram_to_dict
from shelfscan.settings import DetectorBackend, Settings
from tests.hardening.conftest import admin_headers
from tests.store.test_planogram_store import small_planogram


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"detector_backend": DetectorBackend.REPLAY})
    with TestClient(create_app(configured)) as test_client:
        test_client.headers.update(admin_headers(configured))
        yield test_client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "../../etc/passwd", "name": "x"}, "code"),
        ({"code": 'a"b', "name": "x"}, "code"),
        ({"code": "..", "name": "x"}, "code"),
        ({"code": "S1", "name": "Main\x00Street"}, "name"),
        ({"code": "S1", "name": "x", "region": "north\x1b[31m"}, "region"),
        ({"code": "S1", "name": "x", "regoin": "north"}, "regoin"),
    ],
)
def test_bad_store_bodies_are_422_naming_the_field(
    client: TestClient, body: dict, field: str
) -> None:
    answer = client.post("/api/v1/stores", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert client.get("/api/v1/stores").json() == []


def test_bay_codes_and_unknown_fields(client: TestClient) -> None:
    assert client.post("/api/v1/stores", json={"code": "S1", "name": "One"}).status_code == 201
    slash = client.post("/api/v1/stores/S1/bays", json={"code": "a/b"})
    assert slash.status_code == 422 and slash.json()["error"]["field"] == "code"
    typo = client.post("/api/v1/stores/S1/bays", json={"code": "B1", "nmae": "x"})
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "nmae"


@pytest.mark.parametrize("planogram_id", ["../../etc/passwd", 'say"hi', "a\x00b"])
def test_planogram_ids_follow_the_grammar(client: TestClient, planogram_id: str) -> None:
    document = planogram_to_dict(small_planogram())
    document["id"] = planogram_id
    answer = client.post("/api/v1/planograms", json=document)
    assert answer.status_code == 422, answer.text
    locations = [p["location"] for p in answer.json()["error"]["problems"]]
    assert "id" in locations
