"""Review in the page (issue 18), in headless Chromium at 390×844: a detector that names both
CER-04 packs of the demo cereal photo CER-07 (a flavour confusion, replayed: see
tests/corrections/test_corrections_flow.py); the clerk taps one of those spots, searches
"CER-04" and picks it; the scan shows the corrected verdict at once (a new report version),
and the next scan of the same photo names both packs right (the crop joined the gallery).

Screenshots go to tests/artifacts/review-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.jobs.analysis import PipelineAnalyzer
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import Settings
from tests.corrections.test_corrections_flow import (
    BAY,
    CONFUSED,
    DEMO,
    STORE,
    TRUE,
    ConfusedDetector,
)
from tests.web.conftest import CHROMIUM_ARGS, PHONE, api_headers, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class ConfusedPipeline(PipelineAnalyzer):
    """The real pipeline and gallery, with the replayed confused detector."""

    def _load(self) -> Any:
        from shelfscan.corrections.analyzer import with_gallery
        from shelfscan.pipeline import Analyzer

        return with_gallery(Analyzer(ConfusedDetector()), self.settings.resolved_database_url)  # type: ignore[arg-type]


def make_analyzer(settings: Settings) -> ConfusedPipeline:
    return ConfusedPipeline(settings)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("review")
    settings = Settings(
        _env_file=None,
        data_dir=folder / "data",
        database_url=f"sqlite:///{folder / 'shelfscan.db'}",
        scan_analyzer=f"{__name__}:make_analyzer",
        log_json=True,
    )
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        store = create_store(session, STORE, "Store", "north")
        planogram = Planogram.model_validate_json((DEMO / f"{BAY}.json").read_text())
        bay = create_bay(session, store, BAY, "Cereal")
        version = publish_planogram(session, planogram)
        assign_planogram(session, bay, version, date.today() - timedelta(days=1))
    with serve(create_app(settings)) as base_url:
        yield base_url


def _get(url: str) -> Any:
    response = httpx.get(url, headers=api_headers())
    response.raise_for_status()
    return response.json()


def _latest_scan(base_url: str) -> dict[str, Any]:
    listing = _get(f"{base_url}/api/v1/stores/{STORE}/scans")
    return _get(base_url + listing["scans"][0]["url"])


def _scan_photo(page: Any) -> None:
    from playwright.sync_api import expect

    page.select_option("#store", STORE)
    expect(page.locator(f"#bay option[value='{BAY}']")).to_have_count(1)
    page.select_option("#bay", BAY)
    page.locator("#photo").set_input_files(str(DEMO / "photos" / "cereal.jpg"))
    expect(page.locator("#upload")).to_be_enabled()
    page.click("#upload")
    expect(page.locator("#result")).to_be_visible(timeout=90_000)


def _statuses(scan: dict[str, Any]) -> list[str]:
    return [f["status"] for f in scan["report"]["facings"] if f["product_id"] == TRUE]


def test_correct_one_facing_shows_at_once_and_teaches_the_next_scan(
    store_url: str, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
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
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        def console(message: Any) -> None:
            # Chromium asks for /favicon.ico on its own (the page declares none); not the page's.
            where = (message.location or {}).get("url", "")
            if message.type == "error" and not where.endswith("/favicon.ico"):
                errors.append(f"{message.text} ({where})")

        page.on("console", console)
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(store_url + "/")
        _scan_photo(page)

        first = _latest_scan(store_url)
        wrong = [f for f in first["report"]["facings"] if f["product_id"] == TRUE]
        assert [f["status"] for f in wrong] == ["misplaced", "misplaced"]
        assert {f["found_product_id"] for f in wrong} == {CONFUSED}
        spot = page.locator(f"#review-spots button[data-facing-id='{wrong[0]['facing_id']}']")
        expect(spot).to_have_count(1)
        expect(spot).to_contain_text("other product")
        spot.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "review-1-spots.png"))

        spot.click()
        sheet = page.locator("#review-sheet")
        expect(sheet).to_be_visible()
        expect(page.locator("#review-confirm")).to_be_visible()
        expect(page.locator("#review-gap")).to_be_visible()
        page.fill("#review-search", "cer-04")
        choice = page.locator(f"#review-products button[data-product-id='{TRUE}']")
        expect(choice).to_have_count(1)
        expect(page.locator("#review-products button")).to_have_count(1)
        sheet.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "review-2-correct.png"))
        choice.click()

        # At once: the page redraws from the corrected report (version 2).
        expect(page.locator("body")).to_have_attribute("data-report-version", "2", timeout=30_000)
        expect(page.locator("#status")).to_contain_text("Report version 2")
        fixed = page.locator(f"#review-spots button[data-facing-id='{wrong[0]['facing_id']}']")
        expect(fixed).to_contain_text("in place")
        expect(fixed).to_contain_text("reviewed")
        other = page.locator(f"#review-spots button[data-facing-id='{wrong[1]['facing_id']}']")
        expect(other).to_contain_text("other product")
        corrected = _get(f"{store_url}{first['url']}")
        assert _statuses(corrected) == ["ok", "misplaced"]
        assert (
            corrected["report"]["counts"]["misplaced"] == first["report"]["counts"]["misplaced"] - 1
        )
        fixed.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "review-3-corrected.png"))

        # The next scan of the same photo: both CER-04 packs are named right.
        page.click("#again")
        _scan_photo(page)
        second = _latest_scan(store_url)
        assert second["id"] != first["id"]
        assert _statuses(second) == ["ok", "ok"]
        for facing in [f for f in second["report"]["facings"] if f["product_id"] == TRUE]:
            button = page.locator(f"#review-spots button[data-facing-id='{facing['facing_id']}']")
            expect(button).to_contain_text("in place")
        page.locator("#review").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "review-4-next-scan.png"))
        browser.close()
    assert errors == []
