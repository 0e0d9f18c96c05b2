"""The staff page in real headless Chromium at a phone's viewport: choose the demo store and
bay, take a photo, upload with progress, and read the fixes off the annotated result.

The photo is a render of the demo store's cereal bay with known gaps and misplacements; the
replay detector returns the render's exact product boxes, so the report the page shows must
name exactly those facings.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.detection.replay import detections_to_document
from shelfscan.planogram.model import Planogram
from shelfscan.planogram_store import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import PROJECT_ROOT, DetectorBackend, Settings
from shelfscan.synth.scene import FacingStatus, SceneConfig, ShelfRenderer
from tests.web.conftest import api_headers, wait_in_page

STORE, BAY = "DEMO-001", "cereal"
PHONE = {"width": 390, "height": 844}


@dataclass
class DemoScan:
    base_url: str
    photo: Path
    gaps: set[str]
    misplaced: set[str]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[DemoScan]:
    planogram = Planogram.model_validate_json(
        (PROJECT_ROOT / "planograms" / "demo-store" / "cereal.json").read_text()
    )
    config = SceneConfig.clean(image_size=1600)
    config = SceneConfig(**{**config.__dict__, "gap_rate": 0.12, "misplace_rate": 0.08})
    scene = ShelfRenderer([planogram], config=config).render(np.random.default_rng(7), planogram)
    gaps = {f.facing_id for f in scene.facings if f.status is FacingStatus.GAP}
    misplaced = {f.facing_id for f in scene.facings if f.status is FacingStatus.MISPLACED}
    assert gaps, "the render should have at least one gap to report"
    photo = tmp_path / "cereal-bay.jpg"
    scene.image.convert("RGB").save(photo, "JPEG", quality=92)
    replay = tmp_path / "detections.json"
    replay.write_text(json.dumps(detections_to_document(scene.truth_detections())))

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'shelfscan.db'}",
        detector_backend=DetectorBackend.REPLAY,
        replay_path=replay,
        log_json=True,
    )
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        store = create_store(session, STORE, "Demo store", "North")
        bay = create_bay(session, store, BAY, "Cereal")
        create_bay(session, store, "drinks", "Drinks")  # no planogram: offered but disabled
        version = publish_planogram(session, planogram)
        assign_planogram(session, bay, version, date.today() - timedelta(days=1))

    app = create_app(settings)
    from shelfscan.api.routes import scans, web

    paths = {getattr(route, "path", None) for route in app.routes}
    for router, probe in ((web.router, "/"), (scans.router, "/api/v1/stores/{store_code}/scans")):
        if probe not in paths:
            app.include_router(router)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield DemoScan(f"http://127.0.0.1:{port}", photo, gaps, misplaced)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_upload_from_a_phone_sized_chromium_ends_in_a_done_scan(
    demo_server: DemoScan, chromium_path: str, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            extra_http_headers=api_headers(),
        )
        page = context.new_page()
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith((demo_server.base_url, "blob:", "data:"))
                else None
            ),
        )
        page.goto(demo_server.base_url + "/")

        camera = page.locator("#photo")
        assert camera.get_attribute("accept") == "image/*"
        assert camera.get_attribute("capture") == "environment"

        page.select_option("#store", STORE)
        expect(page.locator("#bay option[value='cereal']")).to_have_count(1)
        assert page.locator("#bay option[value='drinks']").is_disabled()
        page.select_option("#bay", BAY)
        camera.set_input_files(str(demo_server.photo))
        expect(page.locator("#preview")).to_be_visible()
        page.click("#upload")

        expect(page.locator("#result")).to_be_visible(timeout=60_000)
        assert int(page.locator("#progress").get_attribute("data-events") or 0) >= 1
        expect(page.locator("#status")).to_have_text("Done.")
        # Every gap and misplaced facing of the render is in exactly one action on the page;
        # a gap is filled (or a product moved into it), a misplaced facing replaced or moved.
        facings_by_kind: dict[str, list[str]] = {}
        for kind, ids in page.eval_on_selector_all(
            "#actions li", "items => items.map(li => [li.dataset.kind, li.dataset.facingIds])"
        ):
            facings_by_kind.setdefault(kind, []).extend(ids.split())
        listed = [facing for ids in facings_by_kind.values() for facing in ids]
        assert len(listed) == len(set(listed))
        assert demo_server.gaps <= set(
            facings_by_kind.get("fill", []) + facings_by_kind.get("move", [])
        )
        assert demo_server.misplaced <= set(
            facings_by_kind.get("replace", []) + facings_by_kind.get("move", [])
        )
        assert set(listed) == demo_server.gaps | demo_server.misplaced
        fill_items = page.locator("#actions li.fill").all_inner_texts()
        assert all(text.startswith("Fill") or "Fill" in text for text in fill_items)
        annotated_width = page.eval_on_selector(
            "#annotated", "img => img.complete ? img.naturalWidth : 0"
        )
        wait_in_page(page, "document.getElementById('annotated').naturalWidth > 0")
        page.screenshot(path=str(artifacts_dir / "staff-page-phone.png"), full_page=True)
        scan_id = page.locator("#result").get_attribute("data-scan-id")
        browser.close()
    assert outside == [], f"the page fetched from outside the app: {outside}"
    assert annotated_width is not None

    scan = httpx.get(
        f"{demo_server.base_url}/api/v1/stores/{STORE}/scans/{scan_id}", headers=api_headers()
    ).json()
    assert scan["status"] == "done"
    report = scan["report"]
    found_gaps = {f["facing_id"] for f in report["facings"] if f["status"] == "gap"}
    found_misplaced = {f["facing_id"] for f in report["facings"] if f["status"] == "misplaced"}
    assert found_gaps == demo_server.gaps
    assert found_misplaced == demo_server.misplaced
    annotated = httpx.get(demo_server.base_url + scan["annotated_url"], headers=api_headers())
    assert annotated.status_code == 200 and annotated.content[:3] == b"\xff\xd8\xff"
    assert (artifacts_dir / "staff-page-phone.png").stat().st_size > 10_000


def test_page_and_static_files_are_served_without_a_cdn(demo_server: DemoScan) -> None:
    page = httpx.get(demo_server.base_url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    for name in ("app.js", "app.css"):
        asset = httpx.get(f"{demo_server.base_url}/static/{name}")
        assert asset.status_code == 200 and "https://" not in asset.text
    assert httpx.get(f"{demo_server.base_url}/static/..%2fweb%2f__init__.py").status_code == 404


def test_a_dark_photo_shows_the_retake_hint_on_the_phone(
    demo_server: DemoScan, chromium_path: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image, ImageEnhance
    from playwright.sync_api import expect, sync_playwright

    dark = tmp_path / "dark-bay.jpg"
    ImageEnhance.Brightness(Image.open(demo_server.photo)).enhance(0.12).save(dark, "JPEG")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, extra_http_headers=api_headers()
        ).new_page()
        page.goto(demo_server.base_url + "/")
        page.select_option("#store", STORE)
        expect(page.locator("#bay option[value='cereal']")).to_have_count(1)
        page.select_option("#bay", BAY)
        page.locator("#photo").set_input_files(str(dark))
        expect(page.locator("#quality")).to_be_hidden()
        page.click("#upload")

        hint = page.locator("#quality")
        expect(hint).to_be_visible(timeout=60_000)
        expect(hint).to_contain_text("Retake:")
        expect(hint).to_contain_text("more light")
        page.screenshot(path=str(artifacts_dir / "staff-page-retake-hint.png"), full_page=True)
        scan_id = page.locator("#result").get_attribute("data-scan-id") or ""
        browser.close()

    listing = httpx.get(
        f"{demo_server.base_url}/api/v1/stores/{STORE}/scans", headers=api_headers()
    ).json()
    dark_scan = next(s for s in listing["scans"] if not scan_id or s["id"] == scan_id)
    assert dark_scan["quality"]["ok"] is False
    codes = {issue["code"] for photo in dark_scan["quality"]["photos"] for issue in photo["issues"]}
    assert "too_dark" in codes
