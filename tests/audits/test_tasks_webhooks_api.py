"""Corrective tasks opened and closed by scans, webhooks signed, retried and logged against a
real receiver on loopback, and the audits API, CLI and reports end to end."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from shelfscan.audits.models import CorrectiveTask, WebhookDelivery, WebhookEndpoint
from shelfscan.audits.occurrences import tick
from shelfscan.audits.webhooks import (
    RETRY_DELAYS,
    check_target,
    create_endpoint,
    deliver_due,
    emit,
    new_secret,
    retry_delay,
)
from shelfscan.db.session import session_factory, session_scope
from shelfscan.services.errors import Invalid
from shelfscan.settings import Settings
from tests.audits.conftest import report, take_scan
from tests.audits.test_ticker import weekly_schedule

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = datetime(2026, 10, 19, 9, tzinfo=BERLIN).astimezone(UTC)


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies every signature with the Standard
    Webhooks reference library and answers the status codes it is told, in order."""

    def __init__(self, secret: str, answers: list[int]) -> None:
        self.verifier = Webhook(secret)
        self.answers = list(answers)
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    payload = receiver.verifier.verify(body, dict(self.headers))
                    verified = True
                except Exception:
                    payload, verified = json.loads(body), False
                receiver.received.append(
                    {"id": self.headers["webhook-id"], "verified": verified, "payload": payload}
                )
                status = (
                    401 if not verified else (receiver.answers.pop(0) if receiver.answers else 200)
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_webhooks_are_signed_verified_retried_and_logged(demo_url: str) -> None:
    old, new = new_secret(), new_secret()
    receiver = Receiver(new, answers=[500, 503])  # fails twice on purpose, then 200
    gone = Receiver(new_secret(), answers=[])
    try:
        with session_scope(demo_url) as session:
            # Rotation: signed with both secrets; the receiver knows only the new one.
            create_endpoint(session, receiver.url, allow_private=True, secrets=[new, old])
            gone_endpoint = create_endpoint(session, gone.url, allow_private=True)
            gone.verifier = Webhook(gone_endpoint.secrets["secrets"][0])
            gone.answers = [410]
            emit(session, "occurrence.opened", {"occurrence_id": 1}, MONDAY_9)
        factory = session_factory(demo_url)
        rng = random.Random(7)
        now = MONDAY_9
        for _ in range(4):
            with factory() as session:
                deliver_due(session, now=now, allow_private=True, rng=rng)
            now += timedelta(hours=1)  # past the 5 s and 5 min back-offs
        with factory() as session:
            ok = session.scalars(
                select(WebhookDelivery)
                .join(WebhookEndpoint)
                .where(WebhookEndpoint.url == receiver.url)
            ).one()
            assert ok.state == "succeeded" and ok.attempts == 3
            assert [a["status"] for a in ok.log["attempts"]] == [500, 503, 200]
            dead = session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == gone_endpoint.id)
            ).one()
            assert dead.state == "failed" and dead.last_status == 410
            assert session.get(WebhookEndpoint, gone_endpoint.id).enabled is False
    finally:
        receiver.close()
        gone.close()
    assert len(receiver.received) == 3
    assert all(r["verified"] for r in receiver.received)
    assert len({r["id"] for r in receiver.received}) == 1  # same webhook-id on every retry
    assert receiver.received[0]["payload"]["type"] == "occurrence.opened"


def test_back_off_grows_with_jitter_for_about_a_day() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, rng) for n in range(1, len(RETRY_DELAYS) + 2)]
    assert delays[-1] is None
    total = sum((d for d in delays if d is not None), timedelta())
    assert timedelta(hours=20) < total < timedelta(hours=34)
    for base, got in zip(RETRY_DELAYS, delays, strict=False):
        assert got is not None and 0.8 * base <= got <= 1.2 * base
    assert len({retry_delay(3, random.Random(s)) for s in range(5)}) > 1  # jittered


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest"],
)
def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_target(url, allow_private=False)
    assert refused.value.field == "url"
    assert check_target(url, allow_private=True) == url


def test_scan_problems_open_tasks_and_the_recheck_closes_the_fixed_ones(demo_url: str) -> None:
    weekly_schedule(demo_url)
    with session_scope(demo_url) as session:
        create_endpoint(session, "http://127.0.0.1:9/h", allow_private=True)
    with session_factory(demo_url)() as session:
        tick(session, MONDAY_9 + timedelta(minutes=1))
    found = MONDAY_9 + timedelta(minutes=5)
    # Oats out of stock (both facings), one Flakes gap.
    first = take_scan(
        demo_url, "DEMO-001", "A01", found, report({"1:0:0": "gap", "1:1:0": "gap", "2:1:0": "gap"})
    )
    with session_scope(demo_url) as session:
        tasks = session.scalars(select(CorrectiveTask).order_by(CorrectiveTask.number)).all()
        assert [(t.kind, t.product_id, t.out_of_stock, t.state) for t in tasks] == [
            ("fill", "p1", True, "open"),
            ("fill", "p2", False, "open"),
        ]
        assert tasks[0].due_at == found + timedelta(hours=4)  # out of stock: sooner
        assert tasks[1].due_at == found + timedelta(hours=24)
        assert tasks[0].occurrence_id is not None
        assert {e["id"] for e in tasks[0].evidence["before"]} == {"1:0:0", "1:1:0"}
        critical = session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.event_type == "stock.critical_out_of_stock"
            )
        ).all()
        assert len(critical) == 1 and critical[0].payload["data"]["product_id"] == "p1"

    # Two hours later: oats refilled, the flakes gap still there.
    fixed_at = found + timedelta(hours=2)
    second = take_scan(demo_url, "DEMO-001", "A01", fixed_at, report({"2:1:0": "gap"}))
    with session_scope(demo_url) as session:
        tasks = session.scalars(select(CorrectiveTask).order_by(CorrectiveTask.id)).all()
        assert len(tasks) == 2, "the still-open flakes task is not duplicated"
        oats, flakes = tasks
        assert (oats.state, oats.closed_by, oats.closing_scan_id) == ("closed", "scan", second)
        assert oats.closed_at == fixed_at
        assert {e["scan_id"] for e in oats.evidence["before"]} == {first}
        assert {(e["id"], e["scan_id"]) for e in oats.evidence["after"]} == {
            ("1:0:0", second),
            ("1:1:0", second),
        }
        assert flakes.state == "open"
        closed_events = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "task.closed")
        ).all()
        assert [e.payload["data"]["task_id"] for e in closed_events] == [oats.id]

    # An inconclusive photo proves nothing: the flakes task stays open.
    take_scan(
        demo_url, "DEMO-001", "A01", fixed_at + timedelta(minutes=5), report(conclusive=False)
    )
    with session_scope(demo_url) as session:
        assert session.get(CorrectiveTask, flakes.id).state == "open"

    from shelfscan.audits.kpis import audit_kpis

    with session_scope(demo_url) as session:
        kpis = audit_kpis(session)
    assert kpis.tasks_rechecked == 2 and kpis.tasks_fixed_by_recheck == 1
    assert kpis.recheck_pass_rate == 0.5
    assert kpis.median_time_to_fix_s == 2 * 3600


def test_fallback_to_per_facing_problems_without_actions(demo_url: str) -> None:
    take_scan(
        demo_url,
        "DEMO-002",
        "A01",
        MONDAY_9,
        report({"1:0:0": "gap", "2:0:0": "misplaced"}, with_actions=False),
    )
    with session_scope(demo_url) as session:
        kinds = sorted(
            (t.kind, tuple(t.facing_ids["ids"])) for t in session.scalars(select(CorrectiveTask))
        )
    assert kinds == [("fill", ("1:0:0",)), ("replace", ("2:0:0",))]


@pytest.fixture
def api(tmp_path: Path, demo_url: str) -> TestClient:
    from shelfscan.api.app import create_app

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=demo_url,
        webhook_allow_private=True,
        audit_scheduler=False,
    )
    client = TestClient(create_app(settings))
    client.__enter__()
    yield client
    client.__exit__(None, None, None)


def test_audits_api_end_to_end(api: TestClient, demo_url: str) -> None:
    created = api.post(
        "/api/v1/audits/schedules",
        json={
            "name": "Monday cereal check",
            "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
            "starts_on": "2026-09-01",
            "scope_kind": "region",
            "scope_codes": ["eu-central"],
        },
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    bad = api.post(
        "/api/v1/audits/schedules",
        json={"name": "x", "rrule": "FREQ=SECONDLY", "starts_on": "2026-09-01"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rrule"
    hook = api.post("/api/v1/audits/webhooks", json={"url": "http://127.0.0.1:9/h"})
    assert hook.status_code == 201 and hook.json()["secrets"][0].startswith("whsec_")

    ticked = api.post(
        "/api/v1/audits/tick", params={"now": (MONDAY_9 + timedelta(minutes=1)).isoformat()}
    )
    assert ticked.status_code == 200, ticked.text
    assert ticked.json()["created"] >= 1 and ticked.json()["transitions"]["open"] == 1

    now = (MONDAY_9 + timedelta(minutes=2)).isoformat()
    checklist = api.get("/api/v1/stores/DEMO-001/audits/checklist", params={"now": now}).json()
    [occurrence] = checklist["occurrences"]
    assert occurrence["state"] == "open"
    assert [b["status"] for b in occurrence["bays"]] == ["to_photograph", "to_photograph"]
    assert (
        api.get("/api/v1/stores/DEMO-002/audits/checklist", params={"now": now}).json()[
            "occurrences"
        ]
        == []
    )

    take_scan(
        demo_url, "DEMO-001", "A01", MONDAY_9 + timedelta(minutes=3), report({"1:0:0": "gap"})
    )
    take_scan(
        demo_url, "DEMO-001", "A02", MONDAY_9 + timedelta(minutes=4), report(conclusive=False)
    )
    occurrence = api.get(f"/api/v1/stores/DEMO-001/audits/occurrences/{occurrence['id']}").json()
    assert occurrence["state"] == "in_progress"
    assert [b["status"] for b in occurrence["bays"]] == ["done", "retake"]

    tasks = api.get("/api/v1/stores/DEMO-001/audits/tasks", params={"state": "open"}).json()
    assert [t["kind"] for t in tasks] == ["fill"]
    refused = api.post(
        f"/api/v1/stores/DEMO-001/audits/tasks/{tasks[0]['id']}/close", json={"reason": ""}
    )
    assert refused.status_code == 422
    closed = api.post(
        f"/api/v1/stores/DEMO-001/audits/tasks/{tasks[0]['id']}/close",
        json={"reason": "delisted product, planogram update pending"},
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["closed_by"].startswith("api_key:")

    html = api.get(occurrence["report_url"])
    assert html.status_code == 200 and "Monday cereal check" in html.text and "A02" in html.text
    pdf = api.get(occurrence["report_url"].replace(".html", ".pdf"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-1.4")
    assert pdf.headers["content-type"] == "application/pdf" and b"%%EOF" in pdf.content[-10:]

    kpis = api.get("/api/v1/audits/kpis").json()
    assert kpis["occurrences_due"] == 0 and kpis["completion_rate"] is None

    deliveries = api.get("/api/v1/audits/deliveries").json()
    assert {"occurrence.opened", "task.closed"} <= {d["event_type"] for d in deliveries}
    paused = api.post(f"/api/v1/audits/schedules/{schedule_id}/pause")
    assert paused.json()["paused"] is True
    assert [s["paused"] for s in api.get("/api/v1/audits/schedules").json()] == [True]


def test_cli_schedule_and_tick(
    tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from shelfscan.cli.main import app
    from shelfscan.settings import get_settings

    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", demo_url)
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(
            app,
            [
                "audits",
                "schedule",
                "add",
                "Weekly",
                "--rrule",
                "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
                "--starts-on",
                "2026-09-01",
                "--stores",
                "DEMO-001,DEMO-002",
            ],
        )
        assert added.exit_code == 0, added.output
        listed = runner.invoke(app, ["audits", "schedule", "list"])
        assert "active" in listed.output and "store:DEMO-001,DEMO-002" in listed.output
        ticks = [
            runner.invoke(app, ["audits", "tick", "--now", "2026-10-19T08:00:00Z", "--no-send"])
            for _ in range(2)
        ]
        assert ticks[0].exit_code == 0, ticks[0].output
        assert " 0 occurrences created" not in ticks[0].output, ticks[0].output
        assert "0 occurrences created" in ticks[1].output
        bad = runner.invoke(app, ["audits", "tick", "--now", "monday"])
        assert bad.exit_code != 0 and "--now" in bad.output
        paused = runner.invoke(app, ["audits", "schedule", "pause", "1"])
        assert "paused" in paused.output
        missing = runner.invoke(app, ["audits", "schedule", "pause", "99"])
        assert missing.exit_code != 0 and "99" in missing.output
    finally:
        get_settings.cache_clear()
