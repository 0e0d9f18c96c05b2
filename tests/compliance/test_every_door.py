"""Same boxes, same report through every door.

One set of detections and one planogram go in by every path that matches them — the scan
pipeline (with and without a label map), ``shelfscan match``, ``shelfscan analyze
--detections`` and the Azure-compatible ``:match`` route — and must get the same verdict for
every facing. The boxes exercise each label rule of the one resolver: a 12-digit UPC-A label
for a product the planogram knows by its 13-digit EAN, a product name in other case and
spacing, a generic ``product`` box and gap boxes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from shelfscan.api.errors import install_error_handlers
from shelfscan.api.routes.planogram_compliance import MATCH_PATH, SUPPORTED_API_VERSIONS, router
from shelfscan.cli.main import app as cli_app
from shelfscan.detection.labels import LabelMap
from shelfscan.detections import Detections
from shelfscan.pipeline import analyze_detections
from shelfscan.planogram.azure_json import import_azure_planogram
from shelfscan.planogram.canonical import dump_canonical
from shelfscan.planogram.model import Planogram
from shelfscan.planogram.validation import gtin_with_check_digit
from tests.compliance.helpers import SAMPLE_DETECTIONS, SAMPLE_PLANOGRAM, load_json

UPC_PRODUCT = "0009"  # Triscuit Rosemary & Olive Oil Crackers: labelled by its UPC-A
CASED_PRODUCT = "0001"  # Chicken In A Biskit Crackers: labelled in other case and spacing
GENERIC_PRODUCT = "0005"  # Tate's Bake Shop Chocolate Chip Cookies: one box says "product"
EAN_13 = gtin_with_check_digit("004400003203")
UPC_A = EAN_13[1:]  # the same code as printed on US packs: 12 digits, no leading zero

Verdicts = list[tuple[str, str, str | None, str]]


@pytest.fixture(scope="module")
def planogram() -> Planogram:
    imported = import_azure_planogram(load_json(SAMPLE_PLANOGRAM))
    products = [
        p.model_copy(update={"gtin": EAN_13}) if p.id == UPC_PRODUCT else p
        for p in imported.products
    ]
    return imported.model_copy(update={"products": products})


@pytest.fixture(scope="module")
def detections_document(planogram: Planogram) -> dict[str, Any]:
    names = {p.id: p.name for p in planogram.products}
    document = copy.deepcopy(load_json(SAMPLE_DETECTIONS))
    generic_done = False
    for box in document["products"]:
        top = box["tags"][0]
        if top["name"] == names[UPC_PRODUCT]:
            top["name"] = UPC_A
        elif top["name"] == names[CASED_PRODUCT]:
            top["name"] = "  " + names[CASED_PRODUCT].upper().replace(" ", "   ") + " "
        elif top["name"] == names[GENERIC_PRODUCT] and not generic_done:
            top["name"] = "product"
            generic_done = True
    assert generic_done and document["gaps"], "the sample must have these boxes"
    return document


@pytest.fixture(scope="module")
def files(tmp_path_factory, planogram, detections_document) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("door")
    paths = {
        "planogram": folder / "planogram.json",
        "detections": folder / "detections.json",
        "photo": folder / "photo.jpg",
    }
    paths["planogram"].write_text(dump_canonical(planogram))
    paths["detections"].write_text(json.dumps(detections_document))
    metadata = detections_document["imageMetadata"]
    Image.new("RGB", (metadata["width"], metadata["height"]), "white").save(paths["photo"])
    return paths


def verdicts(report: dict[str, Any]) -> Verdicts:
    return [
        (f["facing_id"], f["status"], f["found_product_id"], f["reason"]) for f in report["facings"]
    ]


def through_the_pipeline(planogram, document, label_map=None) -> dict[str, Any]:
    detections = Detections.from_azure_result(document)
    image = Image.new("RGB", (detections.image_width, detections.image_height))
    analysis = analyze_detections(image, planogram, detections, label_map=label_map)
    return analysis.report.model_dump(mode="json")


def through_match_cli(files) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli_app,
        [
            "match",
            "--planogram",
            str(files["planogram"]),
            "--detections",
            str(files["detections"]),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def through_analyze_cli(files, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli_app,
        [
            "analyze",
            str(files["photo"]),
            "--planogram",
            str(files["planogram"]),
            "--detections",
            str(files["detections"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def through_the_azure_route(planogram, document) -> list[tuple[str, str, str]]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    response = TestClient(app).post(
        f"{MATCH_PATH}?api-version={SUPPORTED_API_VERSIONS[0]}",
        json={
            "detectedProducts": document,
            "planogram": json.loads(dump_canonical(planogram)),
        },
    )
    assert response.status_code == 200, response.text
    return [
        (entry["positionId"], entry["status"], entry["reason"])
        for entry in response.json()["matchingResultPerPosition"]
    ]


def test_same_boxes_give_the_same_report_through_every_door(
    planogram, detections_document, files, tmp_path
):
    pipeline = verdicts(through_the_pipeline(planogram, detections_document))

    # Each label rule did its work (not merely: every door agrees on a wrong answer).
    by_facing = {facing_id: rest for facing_id, *rest in pipeline}
    planned = {f.facing_id: f.product_id for f in planogram.facings()}
    for product in (UPC_PRODUCT, CASED_PRODUCT):
        facings = [f for f, p in planned.items() if p == product]
        assert facings and all(by_facing[f][0] == "ok" for f in facings), product
    assert any(
        status == "ok" and "does not say which" in reason
        for status, _, reason in by_facing.values()
    ), "the generic box stands in its facing"
    assert sum(status == "gap" for status, _, _ in by_facing.values()) >= 1

    assert verdicts(through_match_cli(files)) == pipeline
    assert verdicts(through_analyze_cli(files, tmp_path / "analyze")) == pipeline
    assert through_the_azure_route(planogram, detections_document) == [
        (facing_id, status, reason) for facing_id, status, _, reason in pipeline
    ]
    # With a label map the pipeline relabels the boxes to product ids first: the labels it
    # reports are the ids, the verdicts are the same.
    mapped = through_the_pipeline(
        planogram, detections_document, LabelMap.from_document({"price_tag": None})
    )
    assert [v[:3] for v in verdicts(mapped)] == [v[:3] for v in pipeline]
