"""``shelfscan analyze``: one shelf photo against one planogram, end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shelfscan.detections import DetectionsFormatError

if TYPE_CHECKING:  # the pipeline imports the detectors: keep `--help` fast
    from shelfscan.pipeline import Analysis


def write_analysis_outputs(analysis: Analysis, out_dir: Path, *, stem: str = "") -> dict[str, Path]:
    """report.json, report.txt, annotated.jpg and detections.json in ``out_dir``."""
    from shelfscan.compliance.text import render_report_text
    from shelfscan.detection.replay import detections_to_document

    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{stem}." if stem else ""
    paths = {
        "report": out_dir / f"{prefix}report.json",
        "text": out_dir / f"{prefix}report.txt",
        "annotated": out_dir / f"{prefix}annotated.jpg",
        "detections": out_dir / f"{prefix}detections.json",
    }
    paths["report"].write_text(analysis.report.model_dump_json(indent=2) + "\n")
    paths["text"].write_text(render_report_text(analysis.report) + "\n")
    paths["annotated"].write_bytes(analysis.annotated_jpeg)
    paths["detections"].write_text(
        json.dumps(detections_to_document(analysis.detections), indent=1) + "\n"
    )
    return paths


def analyze(
    photo: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="Shelf photo (JPEG, PNG, HEIC …)."
    ),
    planogram: Path = typer.Option(
        ...,
        "--planogram",
        "-p",
        exists=True,
        dir_okay=False,
        help="The bay's planogram: canonical JSON, Azure JSON, .psa, CSV or XLSX.",
    ),
    detections: Path | None = typer.Option(
        None,
        "--detections",
        exists=True,
        dir_okay=False,
        help="Use these detections (Azure result or shelfscan JSON) instead of running the "
        "configured detector.",
    ),
    out: Path = typer.Option(Path("out"), "--out", "-o", help="Folder for the outputs."),
    json_output: bool = typer.Option(False, "--json", help="Print the JSON report."),
) -> None:
    """Detect products on a shelf photo, match them to the planogram and write the report
    (report.json, report.txt), an annotated photo (annotated.jpg) and the detections."""
    from shelfscan.cli.common import load_planogram_or_exit
    from shelfscan.compliance.text import render_report_text
    from shelfscan.detection.base import DetectorError
    from shelfscan.detection.replay import ReplayDetector
    from shelfscan.images import ImageDecodeError, load_image
    from shelfscan.pipeline import Analyzer
    from shelfscan.settings import get_settings

    plan = load_planogram_or_exit(planogram)
    try:
        image = load_image(photo.read_bytes())
    except ImageDecodeError as error:
        typer.echo(f"error: {photo}: {error}", err=True)
        raise typer.Exit(2) from error
    try:
        analyzer = (
            Analyzer(ReplayDetector(detections))
            if detections
            else Analyzer.from_settings(get_settings())
        )
        analysis = analyzer(image, plan)
    except (DetectorError, DetectionsFormatError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    paths = write_analysis_outputs(analysis, out)
    if json_output:
        typer.echo(analysis.report.model_dump_json(indent=2))
    else:
        typer.echo(render_report_text(analysis.report))
    typer.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
