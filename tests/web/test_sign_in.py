"""The staff page's own ways in, in headless Chromium at a phone's viewport (390×844), with no
stand-in credentials: a store manager signs in with a password, uploads, reads the result and
signs out (after which the old session cookie is refused); a store phone is enrolled with the
code ``shelfscan device enrol`` prints, the associate says who they are, and the scan carries
their name. Photos and evidence crops are plain ``<img>`` requests, so a loaded annotated photo
also shows that the session or device cookie authorises them.

Screenshots go to tests/artifacts/ (sign-in-*.png).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from shelfscan.api.app import create_app
from shelfscan.auth import service
from shelfscan.auth.roles import Role
from shelfscan.cli.main import app as cli
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.detection.replay import detections_to_document
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, DetectorBackend, Settings, get_settings
from shelfscan.synth.scene import FacingStatus, SceneConfig, ShelfRenderer
from tests.conftest import make_api_key
from tests.web.conftest import CHROMIUM_ARGS, PHONE, serve, wait_in_page

pytestmark = [pytest.mark.browser]

STORE, BAY = "DEMO-001", "cereal"
MANAGER, PASSWORD = "mia.manager@example.com", "a long enough password"


@dataclass
class Shop:
    base_url: str
    database_url: str
    photo: Path
    admin_key: str

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", {"Authorization": f"Bearer {self.admin_key}"})
        return httpx.get(self.base_url + path, **kwargs)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The demo store's cereal bay; the replay detector returns the photo's exact boxes."""
    folder = tmp_path_factory.mktemp("sign-in")
    planogram = Planogram.model_validate_json(
        (PROJECT_ROOT / "planograms" / "demo-store" / "cereal.json").read_text()
    )
    config = SceneConfig.clean(image_size=1600)
    config = SceneConfig(**{**config.__dict__, "gap_rate": 0.12, "misplace_rate": 0.08})
    scene = ShelfRenderer([planogram], config=config).render(np.random.default_rng(7), planogram)
    assert any(f.status is FacingStatus.GAP for f in scene.facings), "a gap to show as a fix"
    photo = folder / "cereal-bay.jpg"
    scene.image.convert("RGB").save(photo, "JPEG", quality=90)
    replay = folder / "detections.json"
    replay.write_text(json.dumps(detections_to_document(scene.truth_detections())))

    settings = Settings(
        _env_file=None,
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'shelfscan.db'}",
        detector_backend=DetectorBackend.REPLAY,
        replay_path=replay,
        log_json=True,
    )
    url = settings.resolved_database_url
    upgrade(url)
    with session_scope(url) as session:
        store = create_store(session, STORE, "Demo store", "North")
        bay = create_bay(session, store, BAY, "Cereal")
        assign_planogram(
            session, bay, publish_planogram(session, planogram), date.today() - timedelta(days=1)
        )
        grant = service.make_grant(session, Role.STORE_MANAGER, STORE, None)
        service.add_user(session, MANAGER, PASSWORD, grant, display_name="Mia", actor="tests")
    admin_key = make_api_key(url)
    with serve(create_app(settings)) as base_url:
        yield Shop(base_url, url, photo, admin_key)


def _phone(playwright: Any, chromium_path: str) -> tuple[Any, Any, list[str]]:
    """A phone-sized page with no credentials of its own; the page's script errors collected."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
    )
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return browser, page, errors


def _upload_and_wait_for_result(page: Any, photo: Path) -> str:
    from playwright.sync_api import expect

    expect(page.locator(f"#store option[value='{STORE}']")).to_have_count(1)
    page.select_option("#store", STORE)
    expect(page.locator(f"#bay option[value='{BAY}']")).to_have_count(1)
    page.select_option("#bay", BAY)
    page.locator("#photo").set_input_files(str(photo))
    expect(page.locator("#upload")).to_be_enabled()
    page.click("#upload")
    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    expect(page.locator("#actions li").first).to_be_visible()
    # A plain <img> request: it loads only when the cookie authorises it.
    wait_in_page(page, "document.getElementById('annotated').naturalWidth > 0", timeout_s=20)
    crops = page.locator("#actions .crops img")
    if crops.count():
        crops.first.scroll_into_view_if_needed()
        wait_in_page(
            page, "document.querySelector('#actions .crops img').naturalWidth > 0", timeout_s=20
        )
    return page.locator("#result").get_attribute("data-scan-id") or ""


def test_a_manager_signs_in_scans_and_signs_out(
    shop: Shop, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser, page, errors = _phone(playwright, chromium_path)
        page.goto(shop.base_url + "/")
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#enrol-form")).to_be_visible()
        expect(page.locator("#scan-form")).to_be_hidden()
        expect(page.locator("#action-bar")).to_be_hidden()
        page.screenshot(path=str(artifacts_dir / "sign-in-page.png"))

        page.fill("#login-username", MANAGER)
        page.fill("#login-password", "not the password at all")
        page.click("#login-submit")
        expect(page.locator("#auth-message")).to_contain_text(
            re.compile("wrong user name or password", re.IGNORECASE)
        )
        expect(page.locator("#scan-form")).to_be_hidden()

        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#signed-in")).to_be_visible()
        expect(page.locator("#signed-in-text")).to_contain_text(MANAGER)
        expect(page.locator("#signed-in-text")).to_contain_text("store manager")
        expect(page.locator("#login-form")).to_be_hidden()
        cookies = {c["name"]: c for c in page.context.cookies()}
        session_cookie = cookies["shelfscan_session"]
        assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"

        scan_id = _upload_and_wait_for_result(page, shop.photo)
        page.screenshot(path=str(artifacts_dir / "sign-in-manager-result.png"), full_page=True)

        page.click("#sign-out")
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#signed-in")).to_be_hidden()
        expect(page.locator("#scan-form")).to_be_hidden()
        page.screenshot(path=str(artifacts_dir / "sign-in-signed-out.png"))
        left = {c["name"] for c in page.context.cookies()}
        browser.close()

    assert errors == []
    assert "shelfscan_session" not in left
    scan = shop.get(f"/api/v1/stores/{STORE}/scans/{scan_id}").json()
    assert scan["status"] == "done"
    old_cookie = {"shelfscan_session": session_cookie["value"]}
    for path in ("/api/v1/auth/me", f"/api/v1/stores/{STORE}/scans/{scan_id}"):
        refused = httpx.get(shop.base_url + path, cookies=old_cookie)
        assert refused.status_code == 401, (path, refused.text)


def _enrolment_code(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What a store manager runs: ``shelfscan device enrol --store S``; the code is printed
    alone on the last line."""
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["device", "enrol", "--store", STORE])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n").splitlines()[-1]


def test_a_store_phone_is_enrolled_and_scans_carry_the_associates_name(
    shop: Shop, chromium_path: str, artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright

    code = _enrolment_code(shop.database_url, monkeypatch)
    with sync_playwright() as playwright:
        browser, page, errors = _phone(playwright, chromium_path)
        page.goto(shop.base_url + "/")
        page.fill("#enrol-code", "WRONG-CODE")
        page.click("#enrol-submit")
        expect(page.locator("#auth-message")).to_contain_text(
            re.compile("enrolment code is wrong", re.IGNORECASE)
        )

        page.fill("#enrol-code", code)
        page.screenshot(path=str(artifacts_dir / "sign-in-enrol.png"))
        page.click("#enrol-submit")
        expect(page.locator("#who")).to_be_visible()
        expect(page.locator("#scan-form")).to_be_hidden()
        token = page.evaluate("localStorage.getItem('shelfscan.deviceToken')")
        assert token and token.startswith("ssd_")
        device_cookie = {c["name"]: c for c in page.context.cookies()}["shelfscan_device"]
        assert device_cookie["httpOnly"] and device_cookie["sameSite"] == "Strict"

        page.fill("#who-name", "Ana Lima")
        page.click("#who-submit")
        expect(page.locator("#signed-in-text")).to_have_text(re.compile(r"^Ana Lima · DEMO-001$"))
        expect(page.locator("#signed-in-text")).to_contain_text(STORE)
        page.screenshot(path=str(artifacts_dir / "sign-in-enrolled.png"))
        first_scan = _upload_and_wait_for_result(page, shop.photo)
        page.screenshot(path=str(artifacts_dir / "sign-in-phone-result.png"), full_page=True)

        # The next associate picks their name from the list (names used on this phone and on
        # the store's recent scans) rather than typing it.
        page.click("#change-associate")
        expect(page.locator("#who")).to_be_visible()
        expect(page.locator("#who-names button", has_text="Ana Lima")).to_have_count(1)
        page.fill("#who-name", "Bo Chen")
        page.click("#who-submit")
        expect(page.locator("#signed-in-text")).to_contain_text("Bo Chen")
        page.click("#change-associate")
        expect(page.locator("#who-names button")).to_have_count(2)
        page.screenshot(path=str(artifacts_dir / "sign-in-who.png"))
        page.locator("#who-names button", has_text="Ana Lima").click()
        expect(page.locator("#signed-in-text")).to_have_text(re.compile(r"^Ana Lima · DEMO-001$"))

        # Forgetting the phone takes a second tap; then the token is gone and revoked.
        page.click("#sign-out")
        expect(page.locator("#sign-out")).to_contain_text("forget this phone")
        expect(page.locator("#signed-in")).to_be_visible()
        page.click("#sign-out")
        expect(page.locator("#enrol-form")).to_be_visible()
        assert page.evaluate("localStorage.getItem('shelfscan.deviceToken')") is None
        assert "shelfscan_device" not in {c["name"] for c in page.context.cookies()}
        browser.close()

    assert errors == []
    scan = shop.get(f"/api/v1/stores/{STORE}/scans/{first_scan}").json()
    assert scan["status"] == "done"
    assert scan["taken_by"] == "Ana Lima"
    me = httpx.get(shop.base_url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, me.text


def test_the_device_cookie_reads_but_never_writes(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HttpOnly device cookie exists for <img> requests: it authorises safe methods only,
    so a cross-site form or script that makes the browser send it cannot upload or change
    anything (the page itself sends the token as a Bearer header)."""
    code = _enrolment_code(shop.database_url, monkeypatch)
    enrolled = httpx.post(shop.base_url + "/api/v1/auth/device/enrol", json={"code": code})
    assert enrolled.status_code == 200, enrolled.text
    token = enrolled.json()["token"]
    assert enrolled.cookies.get("shelfscan_device") == token
    cookie = {"shelfscan_device": token}
    me = httpx.get(shop.base_url + "/api/v1/auth/me", cookies=cookie)
    assert me.status_code == 200 and me.json()["kind"] == "device"
    changed = httpx.put(
        shop.base_url + "/api/v1/auth/device/associate", json={"name": "X"}, cookies=cookie
    )
    assert changed.status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    renewed = httpx.get(shop.base_url + "/api/v1/auth/me", headers=bearer)
    assert renewed.cookies.get("shelfscan_device") == token
    forged = httpx.get(shop.base_url + "/api/v1/auth/me", cookies={"shelfscan_device": "ssk_x"})
    assert forged.status_code == 401


def test_a_user_with_a_second_factor_is_asked_for_the_code(
    shop: Shop, chromium_path: str, artifacts_dir: Path
) -> None:
    """The code field appears only when the API answers ``totp_required``; a wrong code keeps
    the page closed, the authenticator's current code opens it."""
    import pyotp
    from playwright.sync_api import expect, sync_playwright

    with session_scope(shop.database_url) as session:
        grant = service.make_grant(session, Role.STORE_MANAGER, STORE, None)
        service.add_user(session, "totp.user", PASSWORD, grant, actor="tests")
        uri = service.enrol_totp(session, "totp.user", actor="tests")
    authenticator = pyotp.parse_uri(uri)

    with sync_playwright() as playwright:
        browser, page, errors = _phone(playwright, chromium_path)
        page.goto(shop.base_url + "/")
        expect(page.locator("#login-totp")).to_be_hidden()
        page.fill("#login-username", "totp.user")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#login-totp")).to_be_visible()
        expect(page.locator("#auth-message")).to_contain_text("authenticator")
        page.screenshot(path=str(artifacts_dir / "sign-in-totp.png"))
        wrong = f"{(int(authenticator.now()) + 500_000) % 1_000_000:06d}"
        page.fill("#login-totp", wrong)
        page.click("#login-submit")
        expect(page.locator("#auth-message")).to_contain_text(
            re.compile("wrong user name or password", re.IGNORECASE)
        )
        expect(page.locator("#scan-form")).to_be_hidden()
        page.fill("#login-password", PASSWORD)
        page.fill("#login-totp", authenticator.now())
        page.click("#login-submit")
        expect(page.locator("#signed-in-text")).to_contain_text("totp.user")
        expect(page.locator(f"#store option[value='{STORE}']")).to_have_count(1)
        browser.close()
    assert errors == []
