"""The API documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with every
asset served from the package: FastAPI's defaults load them from a CDN, so on a store network
without internet access both pages stayed blank.

Swagger UI is started by a script file (``swagger-init.js``) rather than FastAPI's inline
script, so the page also works under a Content-Security-Policy that forbids inline scripts.
The app factory turns FastAPI's own pages off (``docs_url=None, redoc_url=None``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.docs import get_redoc_html, swagger_ui_default_parameters
from fastapi.responses import FileResponse, HTMLResponse, Response

from shelfscan.services.errors import NotFound
from shelfscan.web import STATIC_DIR, VENDOR_DIR

router = APIRouter(tags=["docs"], include_in_schema=False)

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"

# A fixed list, not a folder: nothing else in the package can be fetched.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (
        VENDOR_DIR / "swagger-ui" / "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
    ),
    "swagger-ui.css": (VENDOR_DIR / "swagger-ui" / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon-32x32.png": (VENDOR_DIR / "swagger-ui" / "favicon-32x32.png", "image/png"),
    "oauth2-redirect.js": (
        VENDOR_DIR / "swagger-ui" / "oauth2-redirect.js",
        "text/javascript; charset=utf-8",
    ),
    "redoc.standalone.js": (
        VENDOR_DIR / "redoc" / "redoc.standalone.js",
        "text/javascript; charset=utf-8",
    ),
    "swagger-init.js": (STATIC_DIR / "swagger-init.js", "text/javascript; charset=utf-8"),
}

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-config="{config}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_OAUTH2_REDIRECT_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Swagger UI: OAuth2 redirect</title></head>
<body>
<script src="{assets}/oauth2-redirect.js"></script>
</body>
</html>
"""


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request) -> str:
    openapi_url = request.app.openapi_url
    if not openapi_url:
        raise NotFound("not_found", "the API description is turned off (openapi_url=None)")
    return _root(request) + openapi_url


@router.get(DOCS_URL)
def swagger_ui(request: Request) -> HTMLResponse:
    config = {
        "openapiUrl": _openapi_url(request),
        "oauth2RedirectUrl": _root(request) + OAUTH2_REDIRECT_URL,
        "parameters": jsonable_encoder(
            {**swagger_ui_default_parameters, **(request.app.swagger_ui_parameters or {})}
        ),
    }
    page = _SWAGGER_PAGE.format(
        assets=_root(request) + ASSETS_URL,
        title=html.escape(f"{request.app.title} – Swagger UI"),
        config=html.escape(json.dumps(config), quote=True),
    )
    return HTMLResponse(page)


@router.get(OAUTH2_REDIRECT_URL)
def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
    return HTMLResponse(_OAUTH2_REDIRECT_PAGE.format(assets=_root(request) + ASSETS_URL))


@router.get(REDOC_URL)
def redoc(request: Request) -> HTMLResponse:
    assets = _root(request) + ASSETS_URL
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} – ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get(ASSETS_URL + "/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound("not_found", f"no documentation asset {name!r}")
    path, media_type = ASSETS[name]
    # The vendored files change only with a shelfscan release; a day's caching is safe.
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
