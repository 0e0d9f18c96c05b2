"""The audits API refuses bad schedule and webhook bodies with a 4xx naming the field (these
used to answer 500: the services passed the field positionally), and store-scoped callers see
only their own store's occurrences, tasks and KPIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from shelfscan.auth.roles import Grant, Role, ScopeKind
from shelfscan.auth.service import create_api_key
from shelfscan.db.session import session_scope
from shelfscan.settings import Settings
from tests.audits.conftest import report, seed_demo_stores, take_scan

MONDAY_9_BERLIN = datetime(2026, 10, 19, 9, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
GOOD_SCHEDULE: dict[str, Any] = {
    "name": "Monday cereal check",
    "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
    "starts_on": "2026-09-01",
}


@pytest.fixture
def sqlite_demo_url(sqlite_url: str) -> str:
    seed_demo_stores(sqlite_url)
    return sqlite_url


def _client(tmp_path: Path, url: str, *, allow_private: bool) -> Iterator[TestClient]:
    from shelfscan.api.app import create_app

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=url,
        webhook_allow_private=allow_private,
        audit_scheduler=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(tmp_path: Path, sqlite_demo_url: str) -> Iterator[TestClient]:
    """Webhook targets on private ranges refused, as in production."""
    yield from _client(tmp_path, sqlite_demo_url, allow_private=False)


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"scope_kind": "chain", "scope_codes": ["DEMO-001"]}, 422, "scope_codes"),
        ({"scope_kind": "region"}, 422, "scope_codes"),
        ({"scope_kind": "store"}, 422, "scope_codes"),
        ({"scope_kind": "store", "scope_codes": ["NOPE-9"]}, 404, "scope_codes"),
        ({"scope_kind": "planet"}, 422, "scope_kind"),
        ({"bay_selection": "shelf"}, 422, "bay_selection"),
        ({"bay_selection": "category"}, 422, "bay_category"),
        ({"bay_selection": "category", "bay_category": "  "}, 422, "bay_category"),
        ({"bay_selection": "list"}, 422, "bay_codes"),
        ({"open_minutes": 0}, 422, "open_minutes"),
        ({"open_minutes": -5}, 422, "open_minutes"),
        ({"missed_after_minutes": 10**9}, 422, "missed_after_minutes"),
        ({"notice_minutes": -1}, 422, "notice_minutes"),
        ({"name": "   "}, 422, "name"),
        ({"rrule": "FREQ=HOURLY;INTERVAL=0"}, 422, "rrule"),
        ({"rrule": "RRULE:FREQ=WEEKLY\nRRULE:FREQ=DAILY"}, 422, "rrule"),
    ],
)
def test_bad_schedule_bodies_answer_4xx_naming_the_field(
    api: TestClient, changes: dict[str, Any], status: int, field: str
) -> None:
    answer = api.post("/api/v1/audits/schedules", json=GOOD_SCHEDULE | changes)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    assert api.get("/api/v1/audits/schedules").json() == [], "nothing was created"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "invalid_webhook_url", "url"),
        ({"url": "not a url"}, "invalid_webhook_url", "url"),
        ({"url": "https://user:secret@example.com/hook"}, "invalid_webhook_url", "url"),
        ({"url": "http://127.0.0.1:9/hook"}, "webhook_target_private", "url"),
        ({"url": "http://[::1]/hook"}, "webhook_target_private", "url"),
        ({"url": "http://10.0.0.7/hook"}, "webhook_target_private", "url"),
        ({"url": "https://example.com/h", "secrets": ["whsec_AAAA"]}, "invalid_secret", "secrets"),
        ({"url": "https://example.com/h", "secrets": ["hunter2"]}, "invalid_secret", "secrets"),
        (
            {"url": "https://example.com/h", "event_types": ["x"]},
            "invalid_event_type",
            "event_types",
        ),
    ],
)
def test_bad_webhook_bodies_answer_422_naming_the_field(
    api: TestClient,
    body: dict[str, Any],
    code: str,
    field: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_dns(host: str, *args: Any, **kwargs: Any) -> Any:
        # Literal addresses resolve to themselves; no test reaches a name server.
        if host.replace(".", "").isdigit() or ":" in host:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    answer = api.post("/api/v1/audits/webhooks", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert api.get("/api/v1/audits/webhooks").json() == [], "nothing was created"


# --- scope -------------------------------------------------------------------------------------


def _key(url: str, role: Role, scope: ScopeKind, code: str | None) -> dict[str, str]:
    with session_scope(url) as session:
        _key_row, secret = create_api_key(
            session, f"{role.value} {code}", Grant(role, scope, code), actor="test"
        )
    return {"Authorization": f"Bearer {secret}"}


def test_store_scoped_callers_see_only_their_store(api: TestClient, sqlite_demo_url: str) -> None:
    url = sqlite_demo_url
    created = api.post(
        "/api/v1/audits/schedules",
        json=GOOD_SCHEDULE | {"scope_kind": "store", "scope_codes": ["DEMO-001", "DEMO-002"]},
    )
    assert created.status_code == 201, created.text
    # Both stores' Monday audits exist and are open (New York's opens 6 h after Berlin's).
    new_york_open = datetime(2026, 10, 19, 9, 5, tzinfo=ZoneInfo("America/New_York"))
    ticked = api.post("/api/v1/audits/tick", params={"now": new_york_open.isoformat()})
    assert ticked.status_code == 200, ticked.text
    # A problem in each store opens a task in each.
    for store in ("DEMO-001", "DEMO-002"):
        take_scan(
            url,
            store,
            "A01",
            new_york_open.astimezone(UTC) + timedelta(minutes=1),
            report({"1:0:0": "gap"}),
        )

    everything = api.get("/api/v1/audits/occurrences").json()
    assert {o["store"] for o in everything} == {"DEMO-001", "DEMO-002"}
    other = next(o for o in everything if o["store"] == "DEMO-002")
    assert {t["store"] for t in api.get("/api/v1/audits/tasks").json()} == {
        "DEMO-001",
        "DEMO-002",
    }

    manager = _key(url, Role.STORE_MANAGER, ScopeKind.STORE, "DEMO-001")
    mine = api.get("/api/v1/audits/occurrences", headers=manager)
    assert mine.status_code == 200, mine.text
    assert mine.json() and {o["store"] for o in mine.json()} == {"DEMO-001"}
    tasks = api.get("/api/v1/audits/tasks", headers=manager).json()
    assert tasks and {t["store"] for t in tasks} == {"DEMO-001"}
    # Filtering by another store's code shows nothing of it.
    assert (
        api.get("/api/v1/audits/occurrences", params={"store": "DEMO-002"}, headers=manager).json()
        == []
    )

    # Another store's occurrence, by id: not found (neither under its store nor under mine).
    assert (
        api.get(
            f"/api/v1/stores/DEMO-002/audits/occurrences/{other['id']}", headers=manager
        ).status_code
        == 404
    )
    assert (
        api.get(
            f"/api/v1/stores/DEMO-001/audits/occurrences/{other['id']}", headers=manager
        ).status_code
        == 404
    )
    assert (
        api.get(
            f"/api/v1/stores/DEMO-002/audits/occurrences/{other['id']}/report.pdf",
            headers=manager,
        ).status_code
        == 404
    )
    assert api.get("/api/v1/stores/DEMO-002/audits/checklist", headers=manager).status_code == 404
    other_task = next(t for t in api.get("/api/v1/audits/tasks").json() if t["store"] == "DEMO-002")
    closing = api.post(
        f"/api/v1/stores/DEMO-001/audits/tasks/{other_task['id']}/close",
        json={"reason": "not mine"},
        headers=manager,
    )
    assert closing.status_code == 404

    # KPIs over the manager's store only: once every audit is past its due time, the chain
    # counts both stores' occurrences, the manager only DEMO-001's.
    later = new_york_open + timedelta(days=3)
    api.post("/api/v1/audits/tick", params={"now": later.isoformat()})
    due_here, due_there = _due(api, "DEMO-001"), _due(api, "DEMO-002")
    assert due_here >= 1 and due_there >= 1
    assert api.get("/api/v1/audits/kpis").json()["occurrences_due"] == due_here + due_there
    scoped = api.get("/api/v1/audits/kpis", headers=manager).json()
    assert scoped["occurrences_due"] == due_here

    # A region-scoped analyst of eu-central (DEMO-001's region) sees the same store only.
    analyst = _key(url, Role.HQ_ANALYST, ScopeKind.REGION, "eu-central")
    assert {o["store"] for o in api.get("/api/v1/audits/occurrences", headers=analyst).json()} == {
        "DEMO-001"
    }


def _due(api: TestClient, store: str) -> int:
    """Occurrences of ``store`` past their due time, as the admin sees them."""
    rows = api.get("/api/v1/audits/occurrences", params={"store": store}).json()
    return sum(1 for o in rows if o["state"] in {"done", "missed", "overdue"})
