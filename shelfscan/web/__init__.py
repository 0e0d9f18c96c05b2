"""The staff web page: static HTML, CSS and JavaScript served by the app, no CDN."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Third-party assets of the API documentation pages (Swagger UI, ReDoc); see its README.md.
VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
