"""A long bay in two photos on the staff page, in headless Chromium at a phone's viewport:
take the left half, add the right half (the page guides it), check each photo's badge, remove
and retake one, upload both and read one result with the bay overview.

The photos are the two halves of a render of the demo cereal bay with known gaps; the
analyzer (plugged in through ``SHELFSCAN_SCAN_ANALYZER``) runs the real pipeline after
detection on the render's exact boxes, cut to each half.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.detections import Detections
from shelfscan.pipeline import analyze_detections
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, Settings
from shelfscan.synth.scene import FacingStatus, SceneConfig, ShelfRenderer
from tests.compliance.test_merge import crop
from tests.web.conftest import CHROMIUM_ARGS, PHONE, api_headers, serve, wait_in_page

STORE, BAY = "DEMO-001", "cereal"
# Photo width → the detections of that photo (the worker runs in this process).
DETECTIONS: dict[int, Detections] = {}


class HalvesAnalyzer:
    def __call__(self, image: Image.Image, planogram: Planogram, **context: Any) -> Any:
        return analyze_detections(
            image,
            planogram,
            DETECTIONS[image.width],
            image_quality=context.get("image_quality"),
            candidates=context.get("candidates"),
            trust_thresholds=context.get("trust_thresholds"),
        )


def make_analyzer(settings: object) -> HalvesAnalyzer:
    return HalvesAnalyzer()


@dataclass
class Halves:
    base_url: str
    left: Path
    right: Path
    gaps: set[str]


@pytest.fixture
def halves_server(tmp_path: Path) -> Iterator[Halves]:
    planogram = Planogram.model_validate_json(
        (PROJECT_ROOT / "planograms" / "demo-store" / "cereal.json").read_text()
    )
    config = SceneConfig.clean(image_size=1600)
    config = SceneConfig(**{**config.__dict__, "gap_rate": 0.12, "misplace_rate": 0.0})
    scene = ShelfRenderer([planogram], config=config).render(np.random.default_rng(7), planogram)
    gaps = {f.facing_id for f in scene.facings if f.status is FacingStatus.GAP}
    image = scene.image.convert("RGB")
    truth = scene.truth_detections()
    paths = []
    for name, (start, end) in (("left", (0.0, 0.6)), ("right", (0.4, 1.0))):
        x1, x2 = round(start * image.width), round(end * image.width)
        if x2 - x1 in DETECTIONS:
            x2 += 1
        DETECTIONS[x2 - x1] = crop(truth, x1, x2)
        path = tmp_path / f"cereal-{name}.jpg"
        image.crop((x1, 0, x2, image.height)).save(path, "JPEG", quality=92)
        paths.append(path)

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'shelfscan.db'}",
        scan_analyzer=f"{__name__}:make_analyzer",
        log_json=True,
    )
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        store = create_store(session, STORE, "Demo store", "North")
        bay = create_bay(session, store, BAY, "Cereal")
        version = publish_planogram(session, planogram)
        assign_planogram(session, bay, version, date.today() - timedelta(days=1))
    app = create_app(settings)
    from shelfscan.api.routes import scans, web

    present = {getattr(route, "path", None) for route in app.routes}
    for router, probe in ((web.router, "/"), (scans.router, "/api/v1/stores/{store_code}/scans")):
        if probe not in present:
            app.include_router(router)
    with serve(app) as base_url:
        yield Halves(base_url, paths[0], paths[1], gaps)


def test_two_photos_of_a_long_bay_give_one_result(
    halves_server: Halves, chromium_path: str, artifacts_dir: Path
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
        page.goto(halves_server.base_url + "/")
        page.select_option("#store", STORE)
        expect(page.locator("#bay option[value='cereal']")).to_have_count(1)
        page.select_option("#bay", BAY)
        camera = page.locator("#photo")
        expect(page.locator("#photo-label")).to_have_text("Take a photo of the whole bay")

        # The left half: the page then asks for the right half.
        camera.set_input_files(str(halves_server.left))
        expect(page.locator("#shots li")).to_have_count(1)
        expect(page.locator("#photo-label")).to_have_text("Add another photo: now the right half")
        expect(page.locator("#shots li .badge").first).to_have_text("Looks fine")
        # A wrong photo added by mistake is removed; the right half is added.
        camera.set_input_files(str(halves_server.left))
        expect(page.locator("#shots li")).to_have_count(2)
        page.locator("#shots li").nth(1).locator(".remove-shot").click()
        expect(page.locator("#shots li")).to_have_count(1)
        camera.set_input_files(str(halves_server.right))
        expect(page.locator("#shots li")).to_have_count(2)
        expect(page.locator("#shots li strong")).to_have_text(["1. Left half", "2. Right half"])
        expect(page.locator("#shots li .badge")).to_have_text(["Looks fine", "Looks fine"])
        # Retake the right half (the same file again): still two photos.
        with page.expect_file_chooser() as chooser:
            page.locator("#shots li").nth(1).locator(".retake-shot").click()
        chooser.value.set_files(str(halves_server.right))
        expect(page.locator("#shots li")).to_have_count(2)
        expect(page.locator("#status")).to_have_text(
            "2 photos of this bay: they are checked as one."
        )
        page.click("#upload")

        expect(page.locator("#result")).to_be_visible(timeout=60_000)
        expect(page.locator("#status")).to_have_text("Done.")
        expect(page.locator("#summary")).to_contain_text("Checked 2 of 2 photos as one bay.")
        expect(page.locator("#photo-tabs button")).to_have_count(2)
        expect(page.locator("#overview-figure")).to_be_visible()
        wait_in_page(page, "document.getElementById('overview').naturalWidth > 0")
        page.locator("#photo-tabs button").nth(1).click()
        wait_in_page(
            page,
            "document.getElementById('annotated').src.endsWith('?photo=1')"
            " && document.getElementById('annotated').naturalWidth > 0",
        )
        listed = {
            facing
            for ids in page.eval_on_selector_all(
                "#actions li", "items => items.map(li => li.dataset.facingIds)"
            )
            for facing in ids.split()
        }
        page.screenshot(path=str(artifacts_dir / "staff-page-two-photos.png"), full_page=True)
        scan_id = page.locator("#result").get_attribute("data-scan-id")
        browser.close()

    scan = httpx.get(
        f"{halves_server.base_url}/api/v1/stores/{STORE}/scans/{scan_id}", headers=api_headers()
    ).json()
    assert scan["status"] == "done"
    assert len(scan["photos"]) == 2
    report = scan["report"]
    assert [p["used"] for p in report["photos"]] == [True, True]
    found_gaps = {f["facing_id"] for f in report["facings"] if f["status"] == "gap"}
    assert found_gaps == halves_server.gaps
    assert report["counts"]["not_visible"] == 0
    assert halves_server.gaps <= listed
    assert (artifacts_dir / "staff-page-two-photos.png").stat().st_size > 10_000
