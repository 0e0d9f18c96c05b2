"""The compliance dashboard's static files (served at /dashboard) and vendored chart libraries."""

from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parent
