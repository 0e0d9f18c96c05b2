"""The states of a scan, on their own so that the table definition can name them too."""

from __future__ import annotations

from enum import StrEnum


class ScanStatus(StrEnum):
    """Where a scan is in its lifecycle; the values are the strings stored in ``scans.status``."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    # Analysed, but the photo does not show this bay readably (``compliance.trust``): a retake
    # instruction instead of results. Terminal, like done and failed.
    INCONCLUSIVE = "inconclusive"
    FAILED = "failed"
