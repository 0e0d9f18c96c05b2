"""The staff web page: static HTML, CSS and JavaScript served by the app, no CDN."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
