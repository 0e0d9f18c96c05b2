from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from shelfscan.cli.match import match
from shelfscan.compliance.report import REPORT_SCHEMA_VERSION
from tests.compliance.helpers import SAMPLE_DETECTIONS, SAMPLE_GAPS, SAMPLE_PLANOGRAM

app = typer.Typer()
app.command("match")(match)


@app.command("other")
def _other() -> None:  # a second command keeps "match" a subcommand, as in the real CLI
    pass


runner = CliRunner()
ARGS = ["match", "--planogram", str(SAMPLE_PLANOGRAM), "--detections", str(SAMPLE_DETECTIONS)]


def test_table_lists_what_needs_attention():
    result = runner.invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    assert "Facings 58: 50 ok, 3 gap, 5 misplaced" in result.output
    for facing_id in SAMPLE_GAPS:
        assert f"\n{facing_id} " in result.output
    assert "Wheat Thins Original Crackers" in result.output


def test_json_report():
    result = runner.invoke(app, [*ARGS, "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["schema_version"] == REPORT_SCHEMA_VERSION == "1.3"
    assert {f["facing_id"] for f in report["facings"] if f["status"] == "gap"} == SAMPLE_GAPS


def test_azure_response():
    result = runner.invoke(app, [*ARGS, "--azure"])
    assert result.exit_code == 0
    assert len(json.loads(result.output)["matchingResultPerPosition"]) == 58


def test_bad_detections_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"imageMetadata": {"width": 10}}')
    result = runner.invoke(
        app, ["match", "--planogram", str(SAMPLE_PLANOGRAM), "--detections", str(bad)]
    )
    assert result.exit_code == 2
    assert "imageMetadata.height" in result.output


def test_bad_planogram_file(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text(
        json.dumps({"Width": 10, "Height": 10, "Products": [], "Fixtures": [], "Positions": []})
    )
    result = runner.invoke(
        app, ["match", "--planogram", str(bad), "--detections", str(SAMPLE_DETECTIONS)]
    )
    assert result.exit_code == 2
    assert "invalid planogram" in result.output


def test_shelfscan_detections_format(tmp_path):
    # The same boxes in shelfscan's own replay format give the same verdicts as Azure's.
    from shelfscan.detection.replay import detections_to_document
    from shelfscan.detections import Detections
    from tests.compliance.helpers import load_json

    azure = Detections.from_azure_result(load_json(SAMPLE_DETECTIONS))
    own = tmp_path / "detections.json"
    own.write_text(json.dumps(detections_to_document(azure)))
    result = runner.invoke(
        app, ["match", "--planogram", str(SAMPLE_PLANOGRAM), "--detections", str(own), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {f["facing_id"] for f in report["facings"] if f["status"] == "gap"} == SAMPLE_GAPS
    assert sum(f["status"] == "misplaced" for f in report["facings"]) == 5


def test_render_report_text_is_importable_from_both_places():
    from shelfscan.cli.match import render_report_text as from_cli
    from shelfscan.compliance.text import render_report_text

    assert from_cli is render_report_text
