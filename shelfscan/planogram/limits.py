"""How large a planogram may be: one policy, enforced by the loader for every format.

A real bay has a few hundred facings and a store-wide planogram a few thousand; the limits sit
well above that yet keep validation, matching and rendering quick and memory bounded. Callers
(the CLI, the API) pass their own ``PlanogramLimits`` when configured otherwise. When a limit is
passed the loader raises ``PlanogramTooLarge`` — a ``PlanogramError`` whose problems name the
limit, the count and the maximum — so that the API can answer 413 rather than 422.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelfscan.planogram.errors import DEFAULT_MAX_PROBLEMS, PlanogramError, Problem
from shelfscan.safe_json import DEFAULT_MAX_DEPTH, DEFAULT_MAX_NUMBER_DIGITS

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# An .xlsx file is a zip; what its parts unpack to is bounded too (a small file can unpack
# to gigabytes of sheet XML).
DEFAULT_MAX_UNPACKED_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class PlanogramLimits:
    """Size limits for one planogram. Counts are per planogram, after import."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_positions: int = 20_000
    max_products: int = 5_000
    max_fixtures: int = 1_000
    max_bays: int = 1_000
    # Every facing is matched and drawn; hfacings × vfacings summed over the positions.
    max_facings: int = 100_000
    # Spreadsheet rows and columns read (beyond them the sheet is refused, not truncated).
    max_sheet_rows: int = 100_000
    max_sheet_columns: int = 256
    max_json_depth: int = DEFAULT_MAX_DEPTH
    max_number_digits: int = DEFAULT_MAX_NUMBER_DIGITS
    # Problems listed in one answer; the rest are counted.
    max_problems: int = DEFAULT_MAX_PROBLEMS

    def section_limit(self, section: str) -> int | None:
        """The limit for a model list (``positions``, ``products``, ``fixtures``, ``bays``)."""
        return {
            "positions": self.max_positions,
            "products": self.max_products,
            "fixtures": self.max_fixtures,
            "bays": self.max_bays,
        }.get(section)


DEFAULT_LIMITS = PlanogramLimits()


class PlanogramTooLarge(PlanogramError):
    """A planogram (or its file) is over a size limit; each problem names limit and count."""


def over_limit(location: str, what: str, count: int, limit: int, setting: str) -> Problem:
    """A problem that names the count, the limit and the setting that holds it."""
    return Problem(location, f"{count:,} {what}: more than the limit of {limit:,} ({setting})")
