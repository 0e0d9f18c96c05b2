"""Vega-Lite specs, shared by the dashboard pages (rendered in the browser by the vendored
vega-embed) and the weekly report (rendered on the server by vl-convert): one definition of
each chart, fed tidy rows from :mod:`shelfscan.analytics.queries`."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from shelfscan.analytics.kpis import KPI_LABELS, Kpi

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
PERCENT = ".0%"
COLOURS = {"good": "#1a7f37", "bad": "#c62828", "neutral": "#455a64"}


# The name a chart's inline rows go by while its Vega-Lite spec is compiled without them.
_ROWS = "rows"


def to_vega(spec: dict[str, Any]) -> dict[str, Any]:
    """The Vega spec that draws the Vega-Lite ``spec``, compiled on the server (vl-convert's
    Vega-Lite, the weekly report's compiler): the browser then needs neither vega-lite.min.js
    nor a compile per chart. A chart's structure rarely changes while its rows do, so the
    compiled structure is kept and the rows are put back into its data source."""
    data = spec.get("data")
    values = data.get("values") if isinstance(data, dict) else None
    if values is None:
        return copy.deepcopy(_compiled(json.dumps(spec, sort_keys=True)))
    skeleton = spec | {"data": {"name": _ROWS}}
    compiled = copy.deepcopy(_compiled(json.dumps(skeleton, sort_keys=True)))
    for source in compiled.get("data", []):
        if source.get("name") == _ROWS and "source" not in source:
            source["values"] = values
            return compiled
    raise ValueError("the compiled chart has no data source for its rows")


@lru_cache(maxsize=64)
def _compiled(spec_json: str) -> dict[str, Any]:
    import vl_convert

    compiled: dict[str, Any] = vl_convert.vegalite_to_vega(json.loads(spec_json))
    return compiled


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _values(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    return [{name: _plain(row.get(name)) for name in fields} for row in rows]


def _base(title: str, width: Any = "container", height: int = 220) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 14},
        "width": width,
        "height": height,
        "config": {"view": {"stroke": None}, "axis": {"labelFontSize": 11}},
    }


def trend(rows: Sequence[dict[str, Any]], kpis: Sequence[Kpi] | None = None) -> dict[str, Any]:
    """KPIs over time (chain or any one group), one line per KPI."""
    kpis = list(
        kpis or [Kpi.ON_SHELF_AVAILABILITY, Kpi.PLANOGRAM_COMPLIANCE, Kpi.OUT_OF_STOCK_RATE]
    )
    values = [
        {"period": _plain(row["period"]), "kpi": KPI_LABELS[kpi], "value": row.get(kpi.value)}
        for row in rows
        for kpi in kpis
        if row.get(kpi.value) is not None
    ]
    return _base("Trend") | {
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "period", "type": "temporal", "title": None,
                  "axis": {"format": "%d %b", "tickCount": "week"}},
            "y": {"field": "value", "type": "quantitative", "title": None,
                  "axis": {"format": PERCENT}},
            "color": {"field": "kpi", "type": "nominal", "title": None,
                      "legend": {"orient": "bottom"}},
            "tooltip": [
                {"field": "period", "type": "temporal", "title": "Week of"},
                {"field": "kpi", "type": "nominal", "title": "KPI"},
                {"field": "value", "type": "quantitative", "format": ".1%", "title": "Value"},
            ],
        },
    }  # fmt: skip


def league(rows: Sequence[dict[str, Any]], limit: int = 25) -> dict[str, Any]:
    """Stores by planogram compliance, best first, with their rank change in the tooltip."""
    fields = ["store", "store_name", "region", "planogram_compliance",
              "planogram_compliance_change", "rank", "previous_rank"]  # fmt: skip
    values = _values(rows[:limit], fields)
    return _base("Store league: planogram compliance", height=max(120, 18 * len(values))) | {
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "store", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "planogram_compliance", "type": "quantitative", "title": None,
                  "axis": {"format": PERCENT}, "scale": {"domain": [0, 1]}},
            "color": {"field": "region", "type": "nominal", "legend": {"orient": "bottom"}},
            "tooltip": [
                {"field": "store_name", "title": "Store"},
                {"field": "planogram_compliance", "format": ".1%", "title": "Compliance"},
                {"field": "planogram_compliance_change", "format": "+.1%", "title": "Change"},
                {"field": "rank", "title": "Rank"},
                {"field": "previous_rank", "title": "Previous rank"},
            ],
        },
    }  # fmt: skip


def top_out_of_stock(rows: Sequence[dict[str, Any]], limit: int = 10) -> dict[str, Any]:
    """Products with the most empty facings over the range."""
    ranked = sorted(rows, key=lambda r: (-(r.get("gap") or 0), str(r.get("product"))))[:limit]
    values = _values(ranked, ["product", "product_name", "brand", "gap", "out_of_stock_rate"])
    return _base("Top out-of-stock products", height=max(120, 20 * len(values))) | {
        "data": {"values": values},
        "mark": {"type": "bar", "color": COLOURS["bad"]},
        "encoding": {
            "y": {"field": "product_name", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "gap", "type": "quantitative", "title": "Empty facings",
                  "axis": {"tickMinStep": 1, "format": "d"}},
            "tooltip": [
                {"field": "product_name", "title": "Product"},
                {"field": "brand", "title": "Brand"},
                {"field": "gap", "title": "Empty facings"},
                {"field": "out_of_stock_rate", "format": ".1%", "title": "Out of stock"},
            ],
        },
    }  # fmt: skip


def heatmap(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A store's bays × weeks, coloured by planogram compliance."""
    values = _values(rows, ["bay", "period", "planogram_compliance", "gap", "scans"])
    height = max(120, 24 * len({r["bay"] for r in rows}))
    return _base("Bays × weeks: planogram compliance", height=height) | {
        "data": {"values": values},
        "mark": {"type": "rect"},
        "encoding": {
            "x": {"field": "period", "type": "ordinal", "timeUnit": "yearmonthdate",
                  "title": "Week of", "axis": {"format": "%d %b"}},
            "y": {"field": "bay", "type": "nominal", "title": None},
            "color": {"field": "planogram_compliance", "type": "quantitative",
                      "scale": {"scheme": "redyellowgreen", "domain": [0.5, 1]},
                      "legend": {"format": PERCENT, "title": None}},
            "tooltip": [
                {"field": "bay", "title": "Bay"},
                {"field": "period", "type": "temporal", "title": "Week of"},
                {"field": "planogram_compliance", "format": ".1%", "title": "Compliance"},
                {"field": "gap", "title": "Empty facings"},
                {"field": "scans", "title": "Scans"},
            ],
        },
    }  # fmt: skip


def scans_done(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Scans done (bars) against scans expected (ticks), per period."""
    values = _values(rows, ["period", "scans", "scans_expected", "scans_done_rate"])
    week = {"field": "period", "type": "ordinal", "timeUnit": "yearmonthdate", "title": None,
            "axis": {"format": "%d %b", "labelAngle": 0}}  # fmt: skip
    return _base("Scans done vs expected") | {
        "data": {"values": values},
        "layer": [
            {"mark": {"type": "bar", "color": "#90a4ae"},
             "encoding": {"x": week,
                          "y": {"field": "scans", "type": "quantitative", "title": "Scans"},
                          "tooltip": [{"field": "scans", "title": "Done"},
                                      {"field": "scans_expected", "title": "Expected"},
                                      {"field": "scans_done_rate", "format": ".0%",
                                       "title": "Done vs expected"}]}},
            {"mark": {"type": "tick", "color": "#263238", "thickness": 3},
             "encoding": {"x": week,
                          "y": {"field": "scans_expected", "type": "quantitative"}}},
        ],
    }  # fmt: skip
