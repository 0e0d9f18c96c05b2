from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from shelfscan.cli.main import app

runner = CliRunner()


def test_analyze_the_real_azure_sample_with_its_recorded_detections(
    azure_sample: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            str(azure_sample / "sample_image.jpg"),
            "--planogram",
            str(azure_sample / "sample_planogram.json"),
            "--detections",
            str(azure_sample / "sample_customized_recognition_result.json"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    by_status: dict[str, list[str]] = {}
    for facing in report["facings"]:
        by_status.setdefault(facing["status"], []).append(facing["facing_id"])
    assert sorted(by_status["gap"]) == ["0003", "0030", "0056"]
    assert sorted(by_status["misplaced"]) == ["0012", "0020", "0021", "0022", "0023"]
    annotated = Image.open(tmp_path / "annotated.jpg")
    # Downscaled to a 2048 px long side, with the legend strip below the photo.
    assert annotated.width == round(2586 * 2048 / 3161)
    assert annotated.height > 2048
    assert "gap" in (tmp_path / "report.txt").read_text()
    replayed = json.loads((tmp_path / "detections.json").read_text())
    assert len(replayed["detections"]) == 57


def test_analyze_reports_a_bad_planogram_with_its_problems(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (200, 100), "white").save(photo)
    planogram = tmp_path / "bad.json"
    planogram.write_text(
        '{"width": 10, "height": 10, "products": [], "fixtures": [], "positions": []}'
    )
    result = runner.invoke(app, ["analyze", str(photo), "--planogram", str(planogram)])
    assert result.exit_code == 2
    assert "invalid planogram" in result.output
