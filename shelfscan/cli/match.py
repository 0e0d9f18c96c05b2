"""``shelfscan match``: match a detections file against a planogram and print the report.

Registered by the main CLI as ``app.command("match")(match)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from shelfscan.compliance.azure_compat import matching_result_per_position
from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import ComplianceReport, FacingStatus, Scores
from shelfscan.detections import Detections, DetectionsFormatError
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.loader import load_planogram_file


def _load_detections(path: Path) -> Detections:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DetectionsFormatError(f"{path}: not a readable JSON file ({error})") from error
    return Detections.from_azure_result(document)


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def _scores_line(scores: Scores) -> str:
    return (
        f"position {_pct(scores.position_compliance)}   availability "
        f"{_pct(scores.availability)}   facings {_pct(scores.facings_compliance)}"
    )


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _clip(text: str, n: int = 44) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render_report_text(report: ComplianceReport, *, all_facings: bool = False) -> str:
    """A readable summary: scores, the facings that need attention, products, fixtures."""
    c = report.counts
    lines = [
        f"Planogram {report.planogram_id} {report.planogram_name}".rstrip()
        + f" — photo {report.image.width}×{report.image.height}px",
        f"Facings {c.facings}: {c.ok} ok, {c.gap} gap, {c.misplaced} misplaced, "
        f"{c.not_visible} not visible; {c.unexpected} unexpected products",
        "Scores   " + _scores_line(report.scores),
        "",
    ]
    shown = [f for f in report.facings if all_facings or f.status is not FacingStatus.OK]
    title = "All facings" if all_facings else "Facings needing attention"
    lines.append(f"{title} ({len(shown)}):")
    if shown:
        lines += _table(
            ["facing", "fixture", "status", "expected", "found", "box (x,y,w,h)", "reason"],
            [
                [
                    f.facing_id,
                    f.fixture_id,
                    f.status.value,
                    _clip(f.product_name, 32),
                    _clip(f.found_label or "-", 32),
                    f"{f.evidence.box.x:.0f},{f.evidence.box.y:.0f},"
                    f"{f.evidence.box.w:.0f},{f.evidence.box.h:.0f}",
                    f.reason,
                ]
                for f in shown
            ],
        )
    if report.unexpected:
        lines += ["", f"Unexpected products ({len(report.unexpected)}):"]
        lines += _table(
            ["detection", "fixture", "kind", "label", "reason"],
            [
                [u.detection_id, u.fixture_id or "-", u.kind.value, _clip(u.label, 32), u.reason]
                for u in report.unexpected
            ],
        )
    lines += ["", "Products:"]
    lines += _table(
        ["product", "name", "planned", "visible", "found", "in place", "gap", "misplaced"],
        [
            [
                p.product_id,
                _clip(p.product_name, 40),
                str(p.expected),
                str(p.visible),
                str(p.found),
                str(p.in_place),
                str(p.gap),
                str(p.misplaced),
            ]
            for p in report.products
        ],
    )
    lines += ["", "Fixtures:"]
    lines += _table(
        ["fixture", "facings", "ok", "gap", "misplaced", "not visible", "scores"],
        [
            [
                f.fixture_id,
                str(f.counts.facings),
                str(f.counts.ok),
                str(f.counts.gap),
                str(f.counts.misplaced),
                str(f.counts.not_visible),
                _scores_line(f.scores),
            ]
            for f in report.fixtures
        ],
    )
    for warning in report.registration.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def match(
    planogram: Path = typer.Option(
        ...,
        "--planogram",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Planogram file: canonical JSON, Azure JSON, .psa, CSV or XLSX.",
    ),
    detections: Path = typer.Option(
        ...,
        "--detections",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Detections: an Azure product-recognition result (or run) JSON.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the JSON report."),
    azure: bool = typer.Option(
        False, "--azure", help="Print the Azure matchingResultPerPosition response instead."
    ),
    all_facings: bool = typer.Option(False, "--all", help="List every facing in the table."),
) -> None:
    """Match detections against a planogram: gaps, misplacements, facings and scores."""
    try:
        plan = load_planogram_file(planogram)
    except PlanogramError as error:
        typer.echo(f"error: {planogram}: invalid planogram", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from error
    try:
        found = _load_detections(detections)
    except DetectionsFormatError as error:
        typer.echo(f"error: {detections}: {error}", err=True)
        raise typer.Exit(2) from error
    try:
        report = match_planogram(plan, found)
    except PlanogramError as error:
        typer.echo(f"error: {planogram}: {error}", err=True)
        raise typer.Exit(2) from error
    if azure:
        typer.echo(json.dumps(matching_result_per_position(report), indent=2))
    elif json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(render_report_text(report, all_facings=all_facings))


app = typer.Typer(help="Match detections against a planogram.", no_args_is_help=True)
app.command("match")(match)


@app.callback()
def _group() -> None:
    """Match detections against a planogram."""
