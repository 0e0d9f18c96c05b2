"""``/docs`` and ``/redoc`` work without internet access: every asset comes from the package."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.api.routes.docs import ASSETS
from shelfscan.settings import Settings
from tests.web.conftest import CHROMIUM_ARGS, serve

_REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']""")


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'shelfscan.db'}",
    )
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # No lifespan: the documentation pages need neither the database nor the model.
    yield TestClient(app)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets_that_answer(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = _REFERENCE.findall(response.text)
    assert references, f"{page} references no assets at all"
    for url in references:
        assert url.startswith("/"), f"{page} references {url!r}, not a local URL"
        assert client.get(url).status_code == 200, f"{page}: {url} does not answer"
    assert "https://" not in response.text and "http://" not in response.text
    # Nothing inline to execute: the pages work under a CSP without 'unsafe-inline' scripts.
    assert "<script>" not in response.text


def test_every_docs_asset_is_shipped_and_nothing_else_is_served(client: TestClient) -> None:
    for name, (path, media_type) in ASSETS.items():
        assert path.is_file(), f"{name}: {path} is missing from the package"
        response = client.get(f"/docs/assets/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        assert len(response.content) == path.stat().st_size
    assert client.get("/docs/assets/README.md").status_code == 404
    assert client.get("/docs/assets/..%2f..%2f__init__.py").status_code == 404


def test_fastapi_cdn_pages_are_off_and_not_in_the_api_description(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert not {"/docs", "/redoc", "/docs/assets/{name}"} & set(schema["paths"])
    assert client.get("/docs/oauth2-redirect").status_code == 200


@pytest.mark.browser
@pytest.mark.parametrize(
    ("page", "operation"),
    [
        # Swagger UI: an operation's path in the list; ReDoc: an operation's heading.
        ("/docs", ".opblock-summary-path:has-text('/readyz')"),
        ("/redoc", "h2:has-text('List scans of a store, newest first')"),
    ],
)
def test_docs_render_their_operations_offline_in_chromium(
    app: FastAPI, chromium_path: str, artifacts_dir: Path, page: str, operation: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with serve(app, lifespan="off") as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []

        def only_local(route, request) -> None:  # type: ignore[no-untyped-def]
            if request.url.startswith((base_url, "data:", "blob:")):
                route.continue_()
            else:
                outside.append(request.url)
                route.abort()

        tab.route("**/*", only_local)
        tab.goto(base_url + page)
        expect(tab.locator(operation).first).to_be_visible(timeout=30_000)
        tab.screenshot(path=str(artifacts_dir / f"api{page.replace('/', '-')}.png"))
        browser.close()
    assert outside == [], f"{page} tried to fetch from outside the app: {outside}"
