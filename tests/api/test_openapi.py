"""Every successful answer of the API is described in ``/openapi.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.settings import Settings

BINARY = {"type": "string", "format": "binary"}


def _openapi(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(_env_file=None, data_dir=tmp_path, migrate_on_start=False)
    # No lifespan: the schema needs no database or worker.
    return TestClient(create_app(settings)).get("/openapi.json").json()


def _empty_success_schemas(document: dict[str, Any]) -> list[str]:
    empty = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2") or status == "204":
                    continue  # 204 has no body to describe
                content = response.get("content") or {}
                if not content:
                    empty.append(f"{method.upper()} {path} {status}: no content")
                for media_type, body in content.items():
                    schema = body.get("schema") or {}
                    if media_type.startswith("image/") and schema != BINARY:
                        empty.append(f"{method.upper()} {path} {status} {media_type}: {schema}")
                    elif not schema:
                        empty.append(f"{method.upper()} {path} {status} {media_type}: empty")
    return empty


def test_every_success_response_has_a_schema(tmp_path: Path) -> None:
    document = _openapi(tmp_path)
    assert len(document["paths"]) >= 15  # the walk saw the API, not an empty document
    assert _empty_success_schemas(document) == []


def test_scan_answer_is_described(tmp_path: Path) -> None:
    paths = _openapi(tmp_path)["paths"]
    answer = paths["/api/v1/stores/{store_code}/scans/{scan_id}"]["get"]["responses"]["200"]
    reference = answer["content"]["application/json"]["schema"]["$ref"]
    assert reference.endswith("/ScanOut")


def test_the_walk_finds_an_undescribed_answer() -> None:
    document = {
        "paths": {
            "/x": {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": {}}}}}}
            },
            "/y": {"get": {"responses": {"200": {"content": {"image/png": {}}}}}},
            "/z": {"delete": {"responses": {"204": {"description": "gone"}}}},
        }
    }
    assert len(_empty_success_schemas(document)) == 2
