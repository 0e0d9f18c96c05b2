"""What a clerk sees on the phone after a scan, with the real analyzer (the shipped demo model
on the demo store's photos), in headless Chromium at 390×844:

* another bay's photo: the retake instruction and the bay it most likely shows, no fix list;
  switching to that bay and uploading the same photo gives grouped actions with human
  locations and evidence crops;
* a blank photo: the retake instruction, no fix list;
* the Upload button is on screen, without scrolling, once a photo is chosen.

Screenshots go to tests/artifacts/ (kept by CI as test artefacts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, Settings
from tests.web.conftest import CHROMIUM_ARGS, PHONE, api_headers, serve, wait_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STORE = "DEMO-001"
DEMO = PROJECT_ROOT / "planograms" / "demo-store"
BAYS = ("cereal", "drinks")


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo store with its cereal and drinks bays, analysed by the shipped demo model."""
    model = PROJECT_ROOT / "planograms" / "models" / "demo-store.pt"
    if not model.is_file():
        pytest.skip(f"the demo model is not there: {model}")
    folder = tmp_path_factory.mktemp("store")
    settings = Settings(
        _env_file=None,
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'shelfscan.db'}",
        model_path=model,
        log_json=True,
    )
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        store = create_store(session, STORE, "Demo store", "North")
        for code in BAYS:
            planogram = Planogram.model_validate_json((DEMO / f"{code}.json").read_text())
            bay = create_bay(session, store, code, code.title())
            version = publish_planogram(session, planogram)
            assign_planogram(session, bay, version, date.today() - timedelta(days=1))
    with serve(create_app(settings)) as base_url:
        yield base_url


def _phone(playwright: Any, chromium_path: str) -> tuple[Any, Any]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
    )
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        extra_http_headers=api_headers(),
    )
    return browser, context.new_page()


def _within_viewport(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def _choose(page: Any, bay: str, photo: Path) -> None:
    from playwright.sync_api import expect

    page.select_option("#store", STORE)
    expect(page.locator(f"#bay option[value='{bay}']")).to_have_count(1)
    page.select_option("#bay", bay)
    page.locator("#photo").set_input_files(str(photo))
    expect(page.locator("#preview")).to_be_visible()


def _latest_scan(base_url: str) -> dict[str, Any]:
    listing = _get(f"{base_url}/api/v1/stores/{STORE}/scans")
    return _get(base_url + listing["scans"][0]["url"])


def _get(url: str) -> Any:
    response = httpx.get(url, headers=api_headers())
    response.raise_for_status()
    return response.json()


def test_another_bays_photo_asks_for_a_retake_then_its_own_bay_lists_actions(
    store_url: str, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser, page = _phone(playwright, chromium_path)
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith((store_url, "blob:", "data:"))
                else None
            ),
        )
        page.goto(store_url + "/")

        # The drinks bay's photo, uploaded for the cereal bay.
        _choose(page, "cereal", DEMO / "photos" / "drinks.jpg")
        assert _within_viewport(page, "#upload"), "Upload is below the fold after the photo"
        expect(page.locator("#upload")).to_be_enabled()
        page.screenshot(path=str(artifacts_dir / "phone-1-photo-chosen.png"))
        page.click("#upload")

        retake = page.locator("#retake")
        expect(retake).to_be_visible(timeout=90_000)
        instruction = page.locator("#retake-instruction").inner_text()
        expect(page.locator("#switch-bay")).to_contain_text("bay drinks")
        expect(page.locator("#result")).to_be_hidden()
        expect(page.locator("#actions li")).to_have_count(0)
        assert _within_viewport(page, "#retake-instruction"), "the retake hint is not first"
        assert _within_viewport(page, "#switch-bay")
        page.screenshot(path=str(artifacts_dir / "phone-2-wrong-bay.png"))
        wrong = _latest_scan(store_url)
        assert wrong["status"] == "inconclusive"
        assert wrong["actions"] == [] and wrong["trust"]["reason"] == "wrong_bay"
        assert wrong["trust"]["likely_bay"]["bay"] == "drinks"
        assert instruction == wrong["trust"]["instruction"]

        # "This looks like bay drinks": switch and check the same photo there.
        page.click("#switch-bay")
        assert page.locator("#bay").input_value() == "drinks"
        expect(page.locator("#upload")).to_be_enabled()
        assert _within_viewport(page, "#upload")
        page.click("#upload")

        result = page.locator("#result")
        expect(result).to_be_visible(timeout=90_000)
        expect(page.locator("#retake")).to_be_hidden()
        scan_id = result.get_attribute("data-scan-id")
        wait_in_page(
            page,
            "Array.from(document.querySelectorAll('#actions img, #annotated'))"
            ".every(img => img.complete && img.naturalWidth > 0)",
        )
        page.screenshot(path=str(artifacts_dir / "phone-3-actions.png"))
        page.screenshot(path=str(artifacts_dir / "phone-3-actions-full.png"), full_page=True)

        shown = page.locator("#actions li")
        texts = shown.all_inner_texts()
        sentences = page.locator("#actions li .what").all_inner_texts()
        locations = page.locator("#actions li .where").all_inner_texts()
        crops_per_item = page.eval_on_selector_all(
            "#actions li", "items => items.map(li => li.querySelectorAll('.crops img').length)"
        )
        kpis = page.locator("#kpis li").all_inner_texts()

        page.click("#open-photo")
        viewer = page.locator("#viewer-image")
        expect(viewer).to_be_visible()
        shown_width = viewer.evaluate("img => img.getBoundingClientRect().width")
        natural_width = viewer.evaluate("img => img.naturalWidth")
        page.screenshot(path=str(artifacts_dir / "phone-4-photo-full-size.png"))
        browser.close()

    assert outside == [], f"the page fetched from outside the app: {outside}"
    scan = _get(f"{store_url}/api/v1/stores/{STORE}/scans/{scan_id}")
    assert scan["status"] == "done"
    actions = scan["actions"]
    assert actions, "the drinks photo has gaps and swaps: there must be actions"
    # The page lists the API's actions, in its order, with their human locations.
    assert len(texts) == len(sentences) == len(actions)
    for sentence, action in zip(sentences, actions, strict=True):
        # The API's sentence (less its trailing location, which has a line of its own).
        assert sentence and action["text"].startswith(sentence)
    assert locations == [a["location_text"] for a in actions if a["location_text"]]
    assert any(re.search(r"\bshelf\b", where, re.IGNORECASE) for where in locations)
    # Grouped: fewer actions than facings with a problem, and no internal ids shown.
    problems = [f for f in scan["report"]["facings"] if f["status"] in ("gap", "misplaced")]
    problems += scan["report"]["unexpected"]
    assert 0 < len([a for a in actions if a["kind"] != "photograph"]) <= len(problems)
    page_text = " ".join(texts)
    for facing in scan["report"]["facings"]:
        assert facing["facing_id"] not in page_text.split(), facing["facing_id"]
    # Evidence crops: every action with crops shows them (up to three), and some have them.
    for shown_crops, action in zip(crops_per_item, actions, strict=True):
        assert shown_crops == min(3, len(action["evidence"])), action["text"]
    assert sum(crops_per_item) >= 1
    # At most three scores, each explained in a line.
    assert 1 <= len(kpis) <= 3
    assert all("\n" in kpi and len(kpi.split("\n")[-1]) > 20 for kpi in kpis)
    # Full size: one image pixel per CSS pixel (wider than the phone), so labels are readable.
    assert natural_width > PHONE["width"] and shown_width == pytest.approx(natural_width, abs=1)


def test_a_blank_photo_asks_for_a_retake_and_lists_no_fixes(
    store_url: str, chromium_path: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (1600, 916), (128, 128, 128)).save(blank, "JPEG", quality=90)

    with sync_playwright() as playwright:
        browser, page = _phone(playwright, chromium_path)
        page.goto(store_url + "/")
        _choose(page, "cereal", blank)
        assert _within_viewport(page, "#upload")
        page.click("#upload")

        expect(page.locator("#retake")).to_be_visible(timeout=90_000)
        instruction = page.locator("#retake-instruction").inner_text()
        expect(page.locator("#result")).to_be_hidden()
        expect(page.locator("#actions li")).to_have_count(0)
        expect(page.locator("#kpis li")).to_have_count(0)
        expect(page.locator("#new-photo")).to_be_visible()
        assert _within_viewport(page, "#retake-instruction")
        assert _within_viewport(page, "#new-photo")
        page.screenshot(path=str(artifacts_dir / "phone-5-blank-photo.png"))
        browser.close()

    scan = _latest_scan(store_url)
    assert scan["status"] == "inconclusive"
    assert scan["trust"]["instruction"] == instruction
    assert scan["actions"] == []
