"""Compliance engine: what stands in every planogram facing of a shelf photo.

Pure core (numpy, scipy, shapely; no web, database or torch imports):
``match_planogram(planogram, detections) -> ComplianceReport``.
"""

from shelfscan.compliance.engine import MatchOptions, match_planogram
from shelfscan.compliance.report import REPORT_SCHEMA_VERSION, ComplianceReport, FacingStatus

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "ComplianceReport",
    "FacingStatus",
    "MatchOptions",
    "match_planogram",
]
