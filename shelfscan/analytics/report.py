"""The weekly report people send around: the dashboard's charts and figures for one region (or
the chain), rendered on the server from the same Vega-Lite specs (:mod:`.charts`) with
vl-convert — offline, no browser — as HTML, PNG or PDF."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shelfscan.analytics import charts, queries
from shelfscan.analytics.kpis import KPI_LABELS, Kpi
from shelfscan.analytics.queries import Filters, Level, Period

FORMATS = (".html", ".png", ".pdf")


@dataclass(frozen=True)
class WeeklyReport:
    title: str
    week_from: date
    week_to: date
    tiles: list[tuple[str, float | None, float | None]]  # label, this week, change
    specs: dict[str, dict[str, Any]]
    league: list[dict[str, Any]]
    offenders: list[dict[str, Any]]


def build(session: Session, *, region: str | None, week_ending: date | None = None) -> WeeklyReport:
    last = week_ending or session.scalar(queries.select_last_day())
    if last is None:
        raise ValueError("no analytics facts yet: run scans, or `shelfscan synth chain`")
    week_from = last - timedelta(days=6)
    history = Filters(date_from=last - timedelta(days=7 * 8 - 1), date_to=last, region=region)
    week = Filters(date_from=week_from, date_to=last, region=region)
    previous = Filters(
        date_from=week_from - timedelta(days=7),
        date_to=week_from - timedelta(days=1),
        region=region,
    )
    now = queries.kpi_rows(session, Level.CHAIN, Period.ALL, week)
    then = queries.kpi_rows(session, Level.CHAIN, Period.ALL, previous)
    tiles = []
    for kpi in Kpi:
        value = now[0][kpi.value] if now else None
        before = then[0][kpi.value] if then else None
        change = value - before if value is not None and before is not None else None
        tiles.append((KPI_LABELS[kpi], value, change))
    league = queries.league(session, week)
    specs = {
        "trend": charts.trend(queries.kpi_rows(session, Level.CHAIN, Period.WEEK, history)),
        "league": charts.league(league),
        "top_out_of_stock": charts.top_out_of_stock(
            queries.kpi_rows(session, Level.PRODUCT, Period.ALL, week)
        ),
    }
    for spec in specs.values():
        spec["width"] = 640  # "container" needs a browser
    offenders = queries.offenders(session, Filters(region=region), n=3, m=4, limit=15)
    title = f"Shelf compliance — {'region ' + region if region else 'chain'}"
    return WeeklyReport(title, week_from, last, tiles, specs, league, offenders)


def _pct(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f} pt" if sign else f"{value * 100:.1f} %"


def to_html(report: WeeklyReport, *, images: dict[str, bytes]) -> str:
    e = html.escape
    tiles = "".join(
        f"<div class=tile><div class=name>{e(label)}</div><div class=value>{_pct(value)}</div>"
        f"<div class=change>{_pct(change, sign=True)} vs previous week</div></div>"
        for label, value, change in report.tiles
    )
    charts_html = "".join(
        f'<img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in images.items()
    )
    league_rows = "".join(
        f"<tr><td>{r['rank']}</td><td>{e(str(r['store']))} {e(str(r.get('store_name') or ''))}</td>"
        f"<td>{_pct(r['planogram_compliance'])}</td>"
        f"<td>{_pct(r['planogram_compliance_change'], sign=True)}</td></tr>"
        for r in report.league
    )
    offender_rows = "".join(
        f"<tr><td>{e(str(r['store']))}</td><td>{e(str(r['bay']))}</td><td>{e(r['facing_id'])}</td>"
        f"<td>{e(str(r['product_name']))}</td><td>{r['failing']}/{r['of_last']}</td></tr>"
        for r in report.offenders
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>{e(report.title)}</title><style>
body{{font:14px/1.4 system-ui,sans-serif;color:#1f2933;max-width:900px;margin:24px auto}}
.tiles{{display:flex;gap:10px;flex-wrap:wrap}}.tile{{border:1px solid #d9e0e6;border-radius:8px;
padding:8px 12px;min-width:150px}}.value{{font-size:24px;font-weight:600}}.name,.change{{color:#607080}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #d9e0e6;padding:4px 6px;text-align:left}}
img{{max-width:100%;display:block;margin:12px 0}}</style></head><body>
<h1>{e(report.title)}</h1><p>Week {report.week_from:%d %b} – {report.week_to:%d %b %Y}</p>
<div class=tiles>{tiles}</div>{charts_html}
<h2>Store league</h2><table><tr><th>#</th><th>Store</th><th>Compliance</th><th>Change</th></tr>{league_rows}</table>
<h2>Repeat offenders (3 of the last 4 scans)</h2><table><tr><th>Store</th><th>Bay</th><th>Facing</th><th>Product</th><th>Failing</th></tr>{offender_rows}</table>
</body></html>"""  # noqa: E501


def _report_spec(report: WeeklyReport) -> dict[str, Any]:
    """The whole report as one vertically concatenated Vega-Lite spec (PNG and PDF)."""
    header = {
        "title": {
            "text": report.title,
            "subtitle": [
                f"Week {report.week_from:%d %b} – {report.week_to:%d %b %Y}",
                "   ".join(
                    f"{label}: {_pct(value)} ({_pct(change, sign=True)})"
                    for label, value, change in report.tiles
                ),
            ],
            "anchor": "start",
            "fontSize": 18,
        }
    }
    parts = []
    for spec in report.specs.values():
        part = {k: v for k, v in spec.items() if k not in ("$schema", "config")}
        parts.append(part)
    return {"$schema": charts.SCHEMA, **header, "vconcat": parts,
            "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
            "config": {"view": {"stroke": None}}}  # fmt: skip


def write(report: WeeklyReport, out: Path) -> Path:
    import vl_convert as vlc

    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}; got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        images = {name: vlc.vegalite_to_png(spec, scale=1.5) for name, spec in report.specs.items()}
        out.write_text(to_html(report, images=images), encoding="utf-8")
    elif suffix == ".png":
        out.write_bytes(vlc.vegalite_to_png(_report_spec(report), scale=1.5))
    else:
        out.write_bytes(vlc.vegalite_to_pdf(_report_spec(report)))
    return out
