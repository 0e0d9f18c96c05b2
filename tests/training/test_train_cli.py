from __future__ import annotations

import json

from typer.testing import CliRunner

from shelfscan.cli.train import app
from shelfscan.planogram.azure_json import export_azure_planogram

runner = CliRunner()


def test_render_command_writes_a_dataset_from_canonical_and_azure_json(planogram, tmp_path):
    canonical = tmp_path / "canonical.json"
    canonical.write_text(planogram.model_dump_json())
    azure = tmp_path / "azure.json"
    azure.write_text(json.dumps(export_azure_planogram(planogram)))
    result = runner.invoke(
        app,
        [
            "render",
            str(canonical),
            str(azure),
            "--out",
            str(tmp_path / "ds"),
            "--images",
            "3",
            "--image-size",
            "96",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rendered 3/3" in result.output
    assert (tmp_path / "ds" / "data.yaml").is_file()
    assert len(list((tmp_path / "ds" / "truth").rglob("*.json"))) == 3


def test_render_command_names_a_bad_planogram_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"width": 10}))
    result = runner.invoke(app, ["render", str(bad), "--out", str(tmp_path / "ds")])
    assert result.exit_code != 0
    assert "bad.json" in result.output


def test_export_command_rejects_an_unknown_format(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    result = runner.invoke(app, ["export", str(weights), "--format", "tflite"])
    assert result.exit_code != 0
    assert "onnx or openvino" in result.output
