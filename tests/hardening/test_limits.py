"""Request limits as one policy (issue 19, cases 3–5): hostile JSON, huge numbers, oversized
bodies and planograms are located 4xx answers naming the limit, never 500s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.planogram.canonical import dump_canonical, planogram_to_dict
from shelfscan.settings import DetectorBackend, Settings
from tests.hardening.conftest import admin_headers
from tests.store.test_planogram_store import small_planogram

MATCH = "/computervision/planogramcompliance:match?api-version=2023-04-01-preview"
DEEP = "[" * 5000 + "]" * 5000
NO_DETECTIONS = {"imageMetadata": {"width": 1000, "height": 600}, "products": []}
LONG_NUMBER = "1" * 5000


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "detector_backend": DetectorBackend.REPLAY,
            "max_json_body_bytes": 4096,
            "max_planogram_positions": 50,
        }
    )


@pytest.fixture
def client(limited: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limited), raise_server_exceptions=False) as test_client:
        test_client.headers.update(admin_headers(limited))
        yield test_client


def _overlapping(count: int) -> dict:
    """``count`` positions stacked on one spot of one shelf: every pair overlaps."""
    document = planogram_to_dict(small_planogram())
    template = document["positions"][0]
    document["positions"] = [
        {**template, "id": str(index), "hfacings": 1} for index in range(count)
    ]
    return document


@pytest.mark.parametrize("body", [DEEP, f'{{"a": {LONG_NUMBER}}}'])
def test_hostile_json_on_match_is_a_located_400(client: TestClient, body: str) -> None:
    answer = client.post(MATCH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["target"] == "body" and "at line 1" in error["message"]


def test_overflowing_number_on_match_names_the_field(client: TestClient) -> None:
    document = planogram_to_dict(small_planogram())
    text = json.dumps({"detectedProducts": NO_DETECTIONS, "planogram": document})
    text = text.replace('"width": 100.0', '"width": 1e400', 1)
    assert "1e400" in text
    answer = client.post(MATCH, content=text, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "width" in answer.json()["error"]["target"]


@pytest.mark.parametrize("route", ["/api/v1/planograms", "/api/v1/planograms:validate"])
@pytest.mark.parametrize("body", [DEEP, f'{{"id": "x", "width": {LONG_NUMBER}}}'])
def test_hostile_json_on_planogram_routes_is_a_located_422(
    client: TestClient, route: str, body: str
) -> None:
    answer = client.post(route, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    problems = answer.json()["error"]["problems"]
    assert problems and problems[0]["location"].startswith("line 1")


def test_hostile_json_on_a_small_route_is_a_located_400(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/stores",
        content='{"code": "S1", "name": "x", "region": ' + "[" * 2000 + "]" * 2000 + "}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_json"


def test_body_over_the_route_limit_is_413_naming_it(client: TestClient) -> None:
    answer = client.post("/api/v1/stores", json={"code": "S1", "name": "x" * 10_000})
    assert answer.status_code == 413
    assert "SHELFSCAN_MAX_JSON_BODY_BYTES" in answer.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"code": "S1", "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    streamed = client.post(
        "/api/v1/stores", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_planogram_over_the_position_limit_is_413_naming_it(client: TestClient) -> None:
    document = planogram_to_dict(small_planogram())
    document["positions"] = [
        {**document["positions"][0], "id": str(i), "x": i * 0.1} for i in range(60)
    ]
    for route in ("/api/v1/planograms", "/api/v1/planograms:validate"):
        answer = client.post(route, json=document)
        assert answer.status_code == 413, answer.text
        assert "max_positions" in answer.json()["error"]["message"]
    match = client.post(MATCH, json={"detectedProducts": NO_DETECTIONS, "planogram": document})
    assert match.status_code == 413 and "max_positions" in match.json()["error"]["message"]


@pytest.mark.parametrize("version", [2**63, 10**30, 2**31])
def test_huge_version_numbers_are_422(client: TestClient, version: int) -> None:
    client.post("/api/v1/planograms", content=dump_canonical(small_planogram())).raise_for_status()
    client.post("/api/v1/stores", json={"code": "S1", "name": "One"}).raise_for_status()
    client.post("/api/v1/stores/S1/bays", json={"code": "B1"}).raise_for_status()
    for path in ("/api/v1/planograms/cereal-1", "/api/v1/planograms/cereal-1/export"):
        answer = client.get(f"{path}?version={version}")
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "version"
    assigned = client.post(
        "/api/v1/stores/S1/bays/B1/assignments",
        content=f'{{"planogram": "cereal-1", "version": {version}, '
        '"effective_from": "2024-01-01"}',
        headers={"Content-Type": "application/json"},
    )
    assert assigned.status_code == 422, assigned.text


def test_overlapping_positions_are_refused_quickly_with_capped_problems(
    limited: Settings,
) -> None:
    settings = limited.model_copy(update={"max_planogram_positions": 20_000})
    with TestClient(create_app(settings)) as client:
        client.headers.update(admin_headers(settings))
        document = _overlapping(2000)
        started = time.perf_counter()
        validated = client.post("/api/v1/planograms:validate", json=document)
        matched = client.post(
            MATCH, json={"detectedProducts": NO_DETECTIONS, "planogram": document}
        )
        elapsed = time.perf_counter() - started
    assert validated.status_code == 422 and matched.status_code == 400
    assert len(validated.json()["error"]["problems"]) <= 101
    assert len(validated.content) < 100_000
    assert elapsed < 20  # was 23 s for one :match alone; generous for a loaded machine
