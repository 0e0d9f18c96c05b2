"""The staff web page at ``/`` and its files under ``/static`` (shipped in the package)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from shelfscan.services.errors import NotFound
from shelfscan.web import STATIC_DIR

router = APIRouter(tags=["web"], include_in_schema=False)

STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
    # Sign-in panel of the staff page (password or store-phone enrolment, who takes photos).
    "auth.js": "text/javascript; charset=utf-8",
    "auth.css": "text/css; charset=utf-8",
    # Scheduled audits: the admin page and the staff page's checklist module.
    "audits-admin.html": "text/html; charset=utf-8",
    "audits-admin.js": "text/javascript; charset=utf-8",
    "audits-checklist.js": "text/javascript; charset=utf-8",
    "audits.css": "text/css; charset=utf-8",
    # Review in the page: confirm or correct a scan's verdicts.
    "review.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
}


@router.get("/")
def index() -> Response:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type=STATIC_FILES["index.html"],
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    # A fixed list, not a folder: nothing else in the package can be fetched.
    if name not in STATIC_FILES:
        raise NotFound("not_found", f"no file {name!r}")
    return FileResponse(
        STATIC_DIR / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )
