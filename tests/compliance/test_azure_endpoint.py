"""The Azure-compatible match endpoint, read the way the official sample client reads it."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelfscan.api.errors import install_error_handlers
from shelfscan.api.routes.planogram_compliance import router
from tests.compliance.helpers import (
    SAMPLE_DETECTIONS,
    SAMPLE_GAPS,
    SAMPLE_MISPLACED,
    SAMPLE_PLANOGRAM,
    load_json,
)

URL = "/computervision/planogramcompliance:match?api-version=2023-04-01-preview"
HEADERS = {"Ocp-Apim-Subscription-Key": "any-key", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    install_error_handlers(app)  # the app renders the route's errors
    app.include_router(router)
    return TestClient(app)


@pytest.fixture(scope="module")
def planogram():
    return load_json(SAMPLE_PLANOGRAM)


@pytest.fixture(scope="module")
def detections():
    return load_json(SAMPLE_DETECTIONS)


def interpret_like_the_official_client(response: dict, planogram: dict) -> dict[str, str]:
    """The official visualiser's rules (azure-apis.md §2): first tag ``gap`` → missing, the
    product's Name (or ``product``) → matched, anything else → misplaced."""
    names = {p["Id"]: p["Name"] for p in planogram["Products"]}
    positions = {p["Id"]: p for p in planogram["Positions"]}
    verdicts = {}
    for entry in response["matchingResultPerPosition"]:
        position = positions[entry["positionId"]]
        box = entry["detectedObject"]["boundingBox"]
        # The visualiser hands these straight to cv2: they must be integers.
        assert all(isinstance(box[k], int) for k in ("x", "y", "w", "h"))
        tag = entry["detectedObject"]["tags"][0]
        if tag["name"] == names[position["ProductId"]] or tag["name"] == "product":
            verdicts[entry["positionId"]] = "matched"
        elif tag["name"] == "gap":
            verdicts[entry["positionId"]] = "missing"
        else:
            verdicts[entry["positionId"]] = f"misplaced:{tag['name']}"
    return verdicts


def test_real_sample_as_the_official_client_sees_it(client, planogram, detections):
    response = client.post(
        URL,
        content=json.dumps({"detectedProducts": detections, "planogram": planogram}),
        headers=HEADERS,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["matchingResultPerPosition"]) == len(planogram["Positions"])
    verdicts = interpret_like_the_official_client(body, planogram)
    assert {k for k, v in verdicts.items() if v == "missing"} == SAMPLE_GAPS
    assert {k: v.split(":", 1)[1] for k, v in verdicts.items() if v.startswith("misplaced")} == (
        SAMPLE_MISPLACED
    )
    assert sum(v == "matched" for v in verdicts.values()) == 50


def test_gap_box_is_where_the_product_should_be(client, planogram, detections):
    body = client.post(URL, json={"detectedProducts": detections, "planogram": planogram}).json()
    entry = next(e for e in body["matchingResultPerPosition"] if e["positionId"] == "0003")
    box = entry["detectedObject"]["boundingBox"]
    # 0003 is the empty third slot of the bottom shelf: x 11..15.9 units, about 560-820 px.
    assert 500 < box["x"] < 620 and 200 < box["w"] < 300
    assert box["y"] > 2600
    assert entry["status"] == "gap"


def test_camel_case_planogram_and_classifications(client, planogram, detections):
    camel = {
        "width": planogram["Width"],
        "height": planogram["Height"],
        "products": [
            {k[0].lower() + k[1:]: v for k, v in p.items()} for p in planogram["Products"]
        ],
        "fixtures": [
            {k[0].lower() + k[1:]: v for k, v in p.items()} for p in planogram["Fixtures"]
        ],
        "positions": [
            {k[0].lower() + k[1:]: v for k, v in p.items()} for p in planogram["Positions"]
        ],
    }
    docs_style = copy.deepcopy(detections)
    for item in docs_style["products"] + docs_style["gaps"]:
        item["classifications"] = [
            {"label": t["name"], "confidence": t["confidence"]} for t in item.pop("tags")
        ]
    body = client.post(URL, json={"detectedProducts": docs_style, "planogram": camel}).json()
    verdicts = interpret_like_the_official_client(body, planogram)
    assert {k for k, v in verdicts.items() if v == "missing"} == SAMPLE_GAPS


def test_labels_may_name_products_by_id(client, planogram, detections):
    by_id = copy.deepcopy(detections)
    ids = {p["Name"]: p["Id"] for p in planogram["Products"]}
    for item in by_id["products"]:
        item["tags"] = [{"name": ids.get(item["tags"][0]["name"], "?"), "confidence": 0.9}]
    body = client.post(URL, json={"detectedProducts": by_id, "planogram": planogram}).json()
    verdicts = interpret_like_the_official_client(body, planogram)
    # Compliant positions carry the product *name*, so the client still sees them matched.
    assert sum(v == "matched" for v in verdicts.values()) == 50


def test_missing_api_version(client, planogram, detections):
    response = client.post(
        "/computervision/planogramcompliance:match",
        json={"detectedProducts": detections, "planogram": planogram},
    )
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "MissingApiVersionParameter"
    assert response.json()["error"]["target"] == "api-version"


def test_unsupported_api_version(client, planogram, detections):
    response = client.post(
        "/computervision/planogramcompliance:match?api-version=2099-01-01",
        json={"detectedProducts": detections, "planogram": planogram},
    )
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "UnsupportedApiVersionValue"


def test_body_not_json(client):
    response = client.post(URL, content=b"{nope", headers=HEADERS)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidRequest" and "not valid JSON" in error["message"]
    assert set(error) == {"code", "message", "target", "details", "innererror"}


def test_missing_parts(client, planogram):
    response = client.post(URL, json={"planogram": planogram})
    assert response.status_code == 400
    assert response.json()["error"]["target"] == "detectedProducts"


def test_bad_detections_name_the_field(client, planogram, detections):
    broken = copy.deepcopy(detections)
    broken["products"][2]["boundingBox"]["w"] = "wide"
    response = client.post(URL, json={"detectedProducts": broken, "planogram": planogram})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["target"] == "detectedProducts.products[2].boundingBox.w"
    assert error["innererror"]["code"] == "InvalidDetectedProducts"


def test_bad_planogram_names_the_field(client, planogram, detections):
    broken = copy.deepcopy(planogram)
    broken["Positions"][4]["ProductId"] = "9999"
    response = client.post(URL, json={"detectedProducts": detections, "planogram": broken})
    assert response.status_code == 400
    error = response.json()["error"]
    assert response.headers["x-ms-error-code"] == "InvalidRequest"
    targets = [d["target"] for d in error["details"]]
    assert any("[4]" in t and "roductId" in t for t in targets), targets
    assert error["innererror"]["code"] == "InvalidPlanogram"
