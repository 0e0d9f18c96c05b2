from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.db.migrate import current_revision, head_revision
from shelfscan.settings import DetectorBackend, Settings


@pytest.fixture
def replay_settings(settings: Settings, tmp_path: Path) -> Settings:
    replay = tmp_path / "detections.json"
    replay.write_text(json.dumps({"imageMetadata": {"width": 10, "height": 10}, "products": []}))
    return settings.model_copy(
        update={"detector_backend": DetectorBackend.REPLAY, "replay_path": replay}
    )


def test_healthz_answers_without_touching_the_database(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "sqlite:////nonexistent/dir/x.db"})
    with TestClient(create_app(broken.model_copy(update={"migrate_on_start": False}))) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_start_applies_migrations(replay_settings: Settings) -> None:
    with TestClient(create_app(replay_settings)):
        pass
    assert current_revision(replay_settings.resolved_database_url) == head_revision()


def test_readyz_ready_when_database_and_detector_are(replay_settings: Settings) -> None:
    with TestClient(create_app(replay_settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["model"] == {
        "ok": True,
        "backend": "replay",
        "detail": f"replay from {replay_settings.replay_path}",
    }


def test_readyz_not_ready_when_model_file_missing(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    app = create_app(settings.model_copy(update={"model_path": missing}))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    model = response.json()["checks"]["model"]
    assert model["ok"] is False
    assert str(missing) in model["detail"]


def test_readyz_not_ready_when_database_unreachable(replay_settings: Settings) -> None:
    unreachable = replay_settings.model_copy(
        update={
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
            "migrate_on_start": False,
        }
    )
    with TestClient(create_app(unreachable)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database["ok"] is False and "OperationalError" in database["error"]


def test_request_id_is_echoed_or_generated_and_logged(
    replay_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(replay_settings)) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        generated = client.get("/healthz")
    assert given.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32

    caplog.clear()
    caplog.set_level(logging.INFO, logger="shelfscan.http")
    with TestClient(create_app(replay_settings)) as client:
        client.get("/healthz", headers={"X-Request-ID": "req-42"})
    access = [r for r in caplog.records if r.name == "shelfscan.http" and r.msg == "request"]
    assert [(r.request_id, r.path, r.status) for r in access] == [("req-42", "/healthz", 200)]


def test_json_log_line_carries_request_id_and_extra_fields() -> None:
    from shelfscan.logging import JsonFormatter, request_id_var

    token = request_id_var.set("rid-7")
    try:
        record = logging.getLogger("x").makeRecord(
            "x", logging.INFO, __file__, 1, "hello %s", ("you",), None, extra={"status": 201}
        )
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["request_id"] == "rid-7"
    assert line["status"] == 201
    assert line["level"] == "info"


def test_openapi_document_lists_the_probes(replay_settings: Settings) -> None:
    with TestClient(create_app(replay_settings)) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert {"/healthz", "/readyz"} <= set(spec["paths"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_official_client_double_slash_urls_reach_the_azure_routes(
    replay_settings: Settings, azure_sample: Path
) -> None:
    """The sample clients send '/computervision//planogramcompliance:match' (they join a path
    that already starts with '/' onto '/computervision/')."""
    body = {
        "detectedProducts": json.loads(
            (azure_sample / "sample_customized_recognition_result.json").read_text()
        ),
        "planogram": json.loads((azure_sample / "sample_planogram.json").read_text()),
    }
    with TestClient(create_app(replay_settings)) as client:
        response = client.post(
            "/computervision//planogramcompliance:match?api-version=2023-04-01-preview",
            json=body,
            headers={"Ocp-Apim-Subscription-Key": "any"},
        )
    assert response.status_code == 200, response.text
    results = response.json()["matchingResultPerPosition"]
    assert len(results) == 58
    gaps = sorted(
        r["positionId"] for r in results if r["detectedObject"]["tags"][0]["name"] == "gap"
    )
    assert gaps == ["0003", "0030", "0056"]


def test_start_builds_every_route_before_the_first_request(replay_settings: Settings) -> None:
    """FastAPI builds an included router's routes on its first request (holding the GIL while
    other requests wait); the app builds them all at start."""
    from fastapi.routing import _IncludedRouter

    app = create_app(replay_settings)
    included = [route for route in app.router.routes if isinstance(route, _IncludedRouter)]
    assert included and all(route._effective_candidates_version is None for route in included)
    with TestClient(app):
        assert all(route._effective_candidates_version is not None for route in included)
