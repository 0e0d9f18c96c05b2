"""The compliance dashboard in headless Chromium: tiles, charts and tables render from the
synthetic chain, with nothing fetched from outside and no CSP violation; screenshots in
tests/artifacts/ (desktop, tablet, a store page)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shelfscan.analytics.synth_chain import ChainSpec, synth_chain
from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.settings import Settings
from tests.web.conftest import CHROMIUM_ARGS, api_headers, serve

CHAIN = ChainSpec(stores=12, bays=5, weeks=8, facings=16, end=date(2026, 11, 29), seed=5)


@pytest.fixture
def app(sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        synth_chain(session, CHAIN)
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", database_url=sqlite_url, migrate_on_start=False
    )
    return create_app(settings)


@pytest.mark.parametrize(
    ("name", "path", "viewport"),
    [
        ("dashboard-chain", "/dashboard", {"width": 1366, "height": 1800}),
        ("dashboard-tablet", "/dashboard?region=north", {"width": 820, "height": 1180}),
        ("dashboard-store", "/dashboard?store=S0003", {"width": 1280, "height": 1600}),
    ],
)
def test_dashboard_renders_in_chromium(
    app, chromium_path: str, artifacts_dir: Path, name: str, path: str, viewport: dict
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    with serve(app, lifespan="off") as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport=viewport, extra_http_headers=api_headers())
        tab = context.new_page()
        outside: list[str] = []
        problems: list[str] = []

        def only_local(route, request) -> None:  # type: ignore[no-untyped-def]
            if request.url.startswith((base_url, "data:", "blob:")):
                route.continue_()
            else:
                outside.append(request.url)
                route.abort()

        tab.route("**/*", only_local)
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.goto(base_url + path)
        expect(tab.locator("body[data-ready=true]")).to_have_count(1, timeout=60_000)
        expect(tab.locator("#message")).to_have_text("")
        expect(tab.locator(".tile")).to_have_count(5)
        expect(tab.locator("#chart-trend svg").first).to_be_visible()
        expect(tab.locator("#chart-top-out-of-stock svg").first).to_be_visible()
        assert tab.locator("#offenders tbody tr").count() > 0
        if "store=" in path:
            expect(tab.locator("#chart-heatmap svg").first).to_be_visible()
            assert tab.locator("#scans tbody tr").count() > 1
        else:
            assert tab.locator("#league tbody tr").count() > 1
            first_store = tab.locator("#league tbody tr a").first
            assert "store=" in (first_store.get_attribute("href") or "")
        tile_value = tab.locator(".tile .value").first.inner_text()
        assert tile_value.endswith("%"), tile_value
        tab.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)
        browser.close()
    assert outside == [], f"the dashboard fetched from outside: {outside}"
    assert problems == [], problems
