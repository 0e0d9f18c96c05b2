"""The app's exception handlers: one error type, two shapes chosen by the route's family."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient

from shelfscan.api.errors import install_error_handlers
from shelfscan.services.errors import Conflict
from shelfscan.services.stores import service_date

router = APIRouter()


@router.get("/api/v1/things/{name}")
def own(name: str, limit: int = Query(10, ge=1, le=20)) -> dict[str, str]:
    raise Conflict("thing_busy", f"thing {name!r} is busy", field="name")


@router.get("/computervision/things/{name}")
def azure(name: str, top: int = Query(10, ge=1, le=30)) -> dict[str, str]:
    raise Conflict("Conflict", f"thing {name!r} is busy", field="name", inner_code="Busy")


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_shelfscan_shape_on_own_routes() -> None:
    response = _client().get("/api/v1/things/a")
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "thing_busy", "message": "thing 'a' is busy", "field": "name"}
    }
    assert "x-ms-error-code" not in response.headers


def test_bad_query_names_the_parameter_and_value() -> None:
    response = _client().get("/api/v1/things/a", params={"limit": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and error["field"] == "limit"
    assert "limit" in error["message"] and "'many'" in error["message"]


def test_azure_shape_and_header_on_azure_routes() -> None:
    response = _client().get("/computervision/things/a")
    assert response.status_code == 409
    assert response.headers["x-ms-error-code"] == "Busy"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "target", "details", "innererror"}
    assert error["code"] == "Conflict" and error["target"] == "name"
    assert error["innererror"]["code"] == "Busy"


def test_bad_query_on_azure_routes_is_an_azure_invalid_request() -> None:
    response = _client().get("/computervision/things/a", params={"top": "99"})
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "InvalidRequest"
    assert response.json()["error"]["target"] == "top"


def test_service_date_is_the_utc_date() -> None:
    just_before_utc_midnight = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert service_date(just_before_utc_midnight).isoformat() == "2026-03-01"
    same_instant_in_berlin = just_before_utc_midnight.astimezone(ZoneInfo("Europe/Berlin"))
    assert service_date(same_instant_in_berlin).isoformat() == "2026-03-01"
