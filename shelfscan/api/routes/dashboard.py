"""The compliance dashboard at ``/dashboard``: a static page and its files, from the package.

The page holds no data: it reads ``/api/v1/analytics/*`` with the browser's session, so the
same scope filter applies. Its files are a fixed list, nothing else can be fetched.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from shelfscan.services.errors import NotFound
from shelfscan.web.dashboard import DASHBOARD_DIR

router = APIRouter(tags=["dashboard"], include_in_schema=False)

JS = "text/javascript; charset=utf-8"
ASSETS = {
    "dashboard.js": (DASHBOARD_DIR / "dashboard.js", JS),
    "dashboard.css": (DASHBOARD_DIR / "dashboard.css", "text/css; charset=utf-8"),
    "vega.min.js": (DASHBOARD_DIR / "vendor" / "vega.min.js", JS),
    "vega-lite.min.js": (DASHBOARD_DIR / "vendor" / "vega-lite.min.js", JS),
    "vega-embed.min.js": (DASHBOARD_DIR / "vendor" / "vega-embed.min.js", JS),
}


@router.get("/dashboard")
def dashboard() -> Response:
    return FileResponse(
        DASHBOARD_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/dashboard/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound("not_found", f"no file {name!r}")
    path, media_type = ASSETS[name]
    # Vendored libraries are pinned (see vendor/README.md); the page's own files may change.
    cache = "public, max-age=86400" if "vendor" in path.parts else "no-cache"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})


# The page and its files hold no data: public, like the staff page.
ROUTE_PERMISSIONS = {("GET", "/dashboard"): "public", ("GET", "/dashboard/assets/{name}"): "public"}
