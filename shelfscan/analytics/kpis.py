"""The KPIs, defined once: each is a ratio of sums, so it aggregates exactly over any set of
scans (a chain, a region, a week). Formulas and a worked example: ``docs/kpis.md``.

The queries (:mod:`shelfscan.analytics.queries`) sum the numerators and denominators in the
database; :func:`ratios` turns sums into the scores, with the same names as the scan report.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

# Sums every level carries, from the rollups.
SUMS = ("visible", "ok", "gap", "misplaced", "unexpected", "credited")

# Expected scans per bay and week unless the caller says otherwise (the synthetic chain and
# the demo scan every bay on Mondays and Thursdays).
DEFAULT_EXPECTED_PER_BAY_WEEK = 2.0
# A facing or product is a repeat offender when failing in at least N of its last M scans.
DEFAULT_OFFENDER_N = 3
DEFAULT_OFFENDER_M = 4


class Kpi(StrEnum):
    ON_SHELF_AVAILABILITY = "on_shelf_availability"
    OUT_OF_STOCK_RATE = "out_of_stock_rate"
    PLANOGRAM_COMPLIANCE = "planogram_compliance"
    FACINGS_COMPLIANCE = "facings_compliance"


KPI_LABELS = {
    Kpi.ON_SHELF_AVAILABILITY: "On-shelf availability",
    Kpi.OUT_OF_STOCK_RATE: "Out of stock",
    Kpi.PLANOGRAM_COMPLIANCE: "Planogram compliance",
    Kpi.FACINGS_COMPLIANCE: "Facings compliance",
}
# For arrows and colours: whether a rise is good news.
HIGHER_IS_BETTER = {
    Kpi.ON_SHELF_AVAILABILITY: True,
    Kpi.OUT_OF_STOCK_RATE: False,
    Kpi.PLANOGRAM_COMPLIANCE: True,
    Kpi.FACINGS_COMPLIANCE: True,
}


def _share(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def ratios(sums: Mapping[str, float]) -> dict[str, float | None]:
    """The four scores from summed counts (null when nothing planned was in view):

    * on-shelf availability = ok / visible
    * out-of-stock rate = gap / visible
    * planogram compliance = ok / (visible + unexpected)
    * facings compliance = credited / visible, credited = Σ per scan and product of
      min(facings holding the product, its planned facings in view)
    """
    visible = sums.get("visible") or 0
    return {
        Kpi.ON_SHELF_AVAILABILITY.value: _share(sums.get("ok") or 0, visible),
        Kpi.OUT_OF_STOCK_RATE.value: _share(sums.get("gap") or 0, visible),
        Kpi.PLANOGRAM_COMPLIANCE.value: _share(
            sums.get("ok") or 0, visible + (sums.get("unexpected") or 0)
        )
        if visible
        else None,
        Kpi.FACINGS_COMPLIANCE.value: _share(sums.get("credited") or 0, visible),
    }


def expected_scans(bays: int, days: int, per_bay_week: float) -> float:
    """Scans due from ``bays`` bays over ``days`` days."""
    return bays * per_bay_week * days / 7.0


def quantile(values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
