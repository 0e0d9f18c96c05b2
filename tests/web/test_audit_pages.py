"""Scheduled audits in the browser (headless Chromium, nothing fetched from outside):

* the staff page on a 390×844 phone: a store with an open audit shows today's checklist with
  its bays to photograph; tapping a bay chooses it; a good photo of each bay, analysed by the
  shipped demo model, turns the bay done and then the whole audit done;
* the admin page with a password session (login cookie + the CSRF header the page echoes):
  a schedule created through the form is listed, and a refused one names the field.

Screenshots go to tests/artifacts/ (audits-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from shelfscan.api.app import create_app
from shelfscan.auth.roles import Grant, Role, ScopeKind
from shelfscan.auth.service import add_region, add_user
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, Settings
from tests.web.conftest import CHROMIUM_ARGS, PHONE, api_headers, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STORE = "DEMO-001"
REGION, ZONE = "eu-central", "Europe/Berlin"
DEMO = PROJECT_ROOT / "planograms" / "demo-store"
BAYS = ("cereal", "drinks")
ADMIN, PASSWORD = "hq-admin", "correct horse battery staple"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo store (Berlin time) with its cereal and drinks bays analysed by the shipped demo
    model, a head-office admin with a password, served over http."""
    model = PROJECT_ROOT / "planograms" / "models" / "demo-store.pt"
    if not model.is_file():
        pytest.skip(f"the demo model is not there: {model}")
    folder = tmp_path_factory.mktemp("audits")
    settings = Settings(
        _env_file=None,
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'shelfscan.db'}",
        model_path=model,
        cookie_secure=False,  # the browser speaks plain http to the test server
        audit_scheduler=False,
        log_json=True,
    )
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        add_region(session, REGION, "Central Europe", ZONE, actor="test")
        store = create_store(session, STORE, "Demo store", REGION)
        for code in BAYS:
            planogram = Planogram.model_validate_json((DEMO / f"{code}.json").read_text())
            bay = create_bay(session, store, code, code.title())
            version = publish_planogram(session, planogram)
            assign_planogram(session, bay, version, date.today() - timedelta(days=1))
        add_user(session, ADMIN, PASSWORD, Grant(Role.ADMIN, ScopeKind.CHAIN), actor="test")
    with serve(create_app(settings)) as url:
        yield url


def _api(method: str, url: str, **kwargs: Any) -> Any:
    response = httpx.request(method, url, headers=api_headers(), timeout=30, **kwargs)
    assert response.is_success, response.text
    return response.json()


def _open_audit_now(base_url: str) -> dict[str, Any]:
    """A daily audit of both bays that opened at the start of this hour in the store's time
    (due three hours later), made by the real ticker at the real time; its occurrence."""
    hour = datetime.now(ZoneInfo(ZONE)).hour
    _api(
        "POST",
        f"{base_url}/api/v1/audits/schedules",
        json={
            "name": "Daily bay check",
            "rrule": f"FREQ=DAILY;BYHOUR={hour};BYMINUTE=0",
            "starts_on": (date.today() - timedelta(days=2)).isoformat(),
            "open_minutes": 180,
            "scope_kind": "store",
            "scope_codes": [STORE],
        },
    )
    _api("POST", f"{base_url}/api/v1/audits/tick")
    checklist = _api("GET", f"{base_url}/api/v1/stores/{STORE}/audits/checklist")
    [occurrence] = [o for o in checklist["occurrences"] if o["state"] == "open"]
    return occurrence


def _launch(playwright: Any, chromium_path: str, **context: Any) -> tuple[Any, Any, list[str]]:
    """A page, and the list of what went wrong on it: console errors, uncaught exceptions (with
    their stack) and answers of 400 or more."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
    )
    page = browser.new_context(**context).new_page()
    problems: list[str] = []

    def console(message: Any) -> None:
        where = (message.location or {}).get("url", "")
        # Chromium asks for /favicon.ico on its own (the pages declare none); not the page's.
        if message.type == "error" and not where.endswith("/favicon.ico"):
            problems.append(f"{message.text} ({where})")

    page.on("console", console)
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.on("pageerror", lambda error: problems.append(f"{error} {error.stack}"))
    return browser, page, problems


def _audits_problems(problems: list[str]) -> list[str]:
    """The problems that involve the audit modules or the audits API. The staff page is shared
    with other modules whose work may be in progress in the same tree; this test answers for
    the checklist's part."""
    return [p for p in problems if "audits" in p]


def _upload(page: Any, card: Any, bay: str, photo: Path) -> None:
    """Tap ``bay`` in the audit ``card``, take ``photo``, upload it and wait for the outcome."""
    from playwright.sync_api import expect

    card.locator(f".bay-button[data-bay='{bay}']").click()
    assert page.locator("#bay").input_value() == bay, "tapping the bay chose it"
    expect(card.locator(f".bay-button[data-bay='{bay}']")).to_have_attribute("aria-pressed", "true")
    page.locator("#photo").set_input_files(str(photo))
    expect(page.locator("#upload")).to_be_enabled()
    page.click("#upload")
    expect(page.locator("#result")).to_be_visible(timeout=120_000)


def test_checklist_bays_turn_done_and_the_audit_done(
    base_url: str, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    occurrence = _open_audit_now(base_url)
    assert [b["status"] for b in occurrence["bays"]] == ["to_photograph", "to_photograph"]

    with sync_playwright() as playwright:
        browser, page, problems = _launch(
            playwright,
            chromium_path,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            extra_http_headers=api_headers(),
        )
        outside: list[str] = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith((base_url, "blob:")) else None,
        )
        page.goto(base_url + "/")
        page.select_option("#store", STORE)
        checklist = page.locator("#audit-checklist")
        expect(checklist).to_be_visible()
        card = checklist.locator(f".audit[data-occurrence='{occurrence['id']}']")
        expect(card).to_have_attribute("data-state", "open")
        expect(card.locator("li[data-status='to_photograph']")).to_have_count(2)
        expect(card).to_contain_text("Daily bay check")
        # Every bay row fits the phone's width and is a thumb-sized target.
        for box in [b.bounding_box() for b in card.locator(".bay-button").all()]:
            assert box is not None and box["height"] >= 40
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir / "audits-1-checklist.png"))

        _upload(page, card, "cereal", DEMO / "photos" / "cereal.jpg")
        expect(card.locator("li[data-bay='cereal']")).to_have_attribute(
            "data-status", "done", timeout=30_000
        )
        expect(card).to_have_attribute("data-state", "in_progress")
        expect(card.locator("li[data-bay='drinks']")).to_have_attribute(
            "data-status", "to_photograph"
        )
        card.scroll_into_view_if_needed()  # below the scan's result, which comes first
        page.screenshot(path=str(artifacts_dir / "audits-2-one-bay-done.png"))

        _upload(page, card, "drinks", DEMO / "photos" / "drinks.jpg")
        expect(card).to_have_attribute("data-state", "done", timeout=30_000)
        expect(card.locator("li[data-status='done']")).to_have_count(2)
        expect(card.locator(".bay-button:disabled")).to_have_count(2)
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "audits-3-audit-done.png"))
        browser.close()

    assert outside == [], f"the page fetched from outside the app: {outside}"
    assert _audits_problems(problems) == [], problems
    # The server agrees: both scans counted towards the audit, which is done.
    done = _api("GET", f"{base_url}/api/v1/stores/{STORE}/audits/occurrences/{occurrence['id']}")
    assert done["state"] == "done" and done["completed_at"] is not None
    assert {b["bay"]: b["status"] for b in done["bays"]} == {"cereal": "done", "drinks": "done"}
    scans = {s["id"] for s in _api("GET", f"{base_url}/api/v1/stores/{STORE}/scans")["scans"]}
    assert {b["scan_id"] for b in done["bays"]} <= scans


def test_admin_page_creates_a_schedule_with_a_session(
    base_url: str, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        # No API key: the page works on the password session and its CSRF cookie alone.
        browser, page, problems = _launch(
            playwright, chromium_path, viewport={"width": 1280, "height": 900}
        )
        login = page.request.post(
            f"{base_url}/api/v1/auth/login", data={"username": ADMIN, "password": PASSWORD}
        )
        assert login.ok, login.text()
        cookies = {c["name"] for c in page.context.cookies()}
        assert {"shelfscan_session", "shelfscan_csrf"} <= cookies, cookies
        page.goto(f"{base_url}/static/audits-admin.html")
        expect(page.locator("#schedule-form")).to_be_visible()

        # Refused: a region-wide schedule without regions names the field.
        page.fill("[name=name]", "Friday drinks check")
        page.fill("[name=rrule]", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=15")
        page.select_option("[name=scope_kind]", "region")
        page.click("#schedule-form button[type=submit]")
        error = page.locator("#schedule-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("scope_codes")

        page.fill("[name=scope_codes]", REGION)
        page.select_option("[name=bay_selection]", "list")
        page.fill("[name=bays]", "drinks")
        page.click("#schedule-form button[type=submit]")
        row = page.locator("#schedules tbody tr", has_text="Friday drinks check")
        expect(row).to_have_count(1)
        expect(error).to_be_hidden()
        expect(row).to_contain_text(f"region: {REGION}")
        expect(row).to_contain_text("list: drinks")
        page.screenshot(path=str(artifacts_dir / "audits-admin.png"), full_page=True)

        # Pause through the page (a POST: session + CSRF header again).
        row.get_by_role("button", name="Pause").click()
        expect(row.get_by_role("button", name="Resume")).to_be_visible()
        browser.close()

    # The one refusal on purpose, and nothing else.
    # (Chromium also logs it on the console as a resource that failed to load.)
    refused = [p for p in _audits_problems(problems) if "422" in p]
    assert f"422 {base_url}/api/v1/audits/schedules" in refused, problems
    assert len([p for p in refused if p.startswith("422 ")]) == 1, problems
    assert [p for p in _audits_problems(problems) if p not in refused] == [], problems
    schedules = _api("GET", f"{base_url}/api/v1/audits/schedules")
    [made] = [s for s in schedules if s["name"] == "Friday drinks check"]
    assert made["scope_codes"] == [REGION] and made["bay_codes"] == ["drinks"]
    assert made["paused"] is True
    assert made["rrule"] == "FREQ=WEEKLY;BYDAY=FR;BYHOUR=15"
