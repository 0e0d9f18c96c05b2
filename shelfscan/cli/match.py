"""``shelfscan match``: match a detections file against a planogram and print the report.

``render_report_text`` lives in :mod:`shelfscan.compliance.text`; it is re-exported here for
callers that imported it from this module.

Registered by the main CLI as ``app.command("match")(match)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from shelfscan.cli.common import load_planogram_or_exit
from shelfscan.compliance.actions import conclude
from shelfscan.compliance.azure_compat import matching_result_per_position
from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.text import render_report_text
from shelfscan.detection.replay import detections_from_document
from shelfscan.detections import Detections, DetectionsFormatError
from shelfscan.planogram.errors import PlanogramError


def _load_detections(path: Path) -> Detections:
    """An Azure product-recognition result (or run) or shelfscan's own detections format."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DetectionsFormatError(f"{path}: not a readable JSON file ({error})") from error
    return detections_from_document(document)


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
        help="Detections: an Azure product-recognition result (or run) JSON, or shelfscan's "
        "own detections JSON (format shelfscan.detections/v1).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the JSON report."),
    azure: bool = typer.Option(
        False, "--azure", help="Print the Azure matchingResultPerPosition response instead."
    ),
    all_facings: bool = typer.Option(False, "--all", help="List every facing in the table."),
) -> None:
    """Match detections against a planogram: gaps, misplacements, facings and scores."""
    plan = load_planogram_or_exit(planogram)
    try:
        found = _load_detections(detections)
    except DetectionsFormatError as error:
        typer.echo(f"error: {detections}: {error}", err=True)
        raise typer.Exit(2) from error
    try:
        report = match_planogram(plan, found)
        conclude(report, found, plan)  # the trust verdict and the actions
    except PlanogramError as error:
        typer.echo(f"error: {planogram}: {error}", err=True)
        raise typer.Exit(2) from error
    if azure:
        typer.echo(json.dumps(matching_result_per_position(report), indent=2))
    elif json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(render_report_text(report, all_facings=all_facings))


__all__ = ["app", "match", "render_report_text"]

app = typer.Typer(help="Match detections against a planogram.", no_args_is_help=True)
app.command("match")(match)


@app.callback()
def _group() -> None:
    """Match detections against a planogram."""
