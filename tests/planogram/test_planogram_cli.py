from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from shelfscan.cli.planogram import app
from shelfscan.planogram.canonical import load_canonical
from shelfscan.planogram.psa import import_psa

from .conftest import AZURE_CATALOG, AZURE_SAMPLE, FIXTURES, REPO, needs_azure_sample, tiny_azure
from .test_planogram_importers import layout_of

runner = CliRunner()
TINY_CSV_OPTIONS = ["--width", "30", "--height", "24", "--shelf-thickness", "2"]


def test_import_csv_to_canonical_json(tmp_path) -> None:
    output = tmp_path / "out" / "tiny.json"
    result = runner.invoke(
        app, ["import", str(FIXTURES / "tiny.csv"), "-o", str(output), *TINY_CSV_OPTIONS]
    )
    assert result.exit_code == 0, result.output
    planogram = load_canonical(output.read_text())
    assert planogram.id == "tiny"
    assert layout_of(planogram) == layout_of(import_psa((FIXTURES / "tiny.psa").read_bytes()))
    assert "4 positions, 11 facings, 3 products, 2 fixtures" in result.output


def test_validate_reports_every_problem_readably_and_as_json(tmp_path) -> None:
    document = tiny_azure()
    document["positions"][3]["productId"] = "0099"
    document["products"][0]["w"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    good = FIXTURES / "tiny.psa"
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{good}: ok (4 positions")
    assert f"{bad}: products[0].w: size must be positive, got 0" in lines
    assert f"{bad}: positions[3].productId: unknown product '0099'" in lines
    assert lines[-1] == f"{bad}: 2 problems"

    result = runner.invoke(app, ["validate", "--json", str(bad)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report == [
        {
            "file": str(bad),
            "format": "azure",
            "valid": False,
            "problems": [
                {"location": "products[0].w", "problem": "size must be positive, got 0"},
                {"location": "positions[3].productId", "problem": "unknown product '0099'"},
            ],
        }
    ]


def test_import_refuses_a_bad_file_without_writing(tmp_path) -> None:
    text = (FIXTURES / "tiny.psa").read_text().replace(",0,0,0,0,3,1,2", ",0,0,0,0,abc,1,2")
    source = tmp_path / "bad.psa"
    source.write_text(text)
    output = tmp_path / "out.json"
    result = runner.invoke(app, ["import", str(source), "-o", str(output)])
    assert result.exit_code == 1
    assert f"{source}: line 8 (Position): field 'HFacings' is not a whole number: 'abc'" in (
        result.output
    )
    assert not output.exists()


def test_export_to_azure_and_psa_round_trips(tmp_path) -> None:
    source = FIXTURES / "tiny_canonical.json"
    azure = tmp_path / "azure.json"
    psa = tmp_path / "tiny.psa"
    assert (
        runner.invoke(app, ["export", str(source), "--to", "azure", "-o", str(azure)]).exit_code
        == 0
    )
    assert runner.invoke(app, ["export", str(source), "--to", "psa", "-o", str(psa)]).exit_code == 0
    original = load_canonical(source.read_text())
    exported = json.loads(azure.read_text())
    assert len(exported["positions"]) == 11
    assert layout_of(import_psa(psa.read_bytes())) == layout_of(original)
    result = runner.invoke(app, ["export", str(psa), "--to", "canonical"])
    assert result.exit_code == 0
    assert layout_of(load_canonical(result.output)) == layout_of(original)


@needs_azure_sample
def test_render_the_azure_sample(tmp_path) -> None:
    output = tmp_path / "sample.png"
    result = runner.invoke(
        app,
        [
            "render",
            str(AZURE_SAMPLE),
            "-o",
            str(output),
            "--packshots",
            str(AZURE_CATALOG),
            "--width-px",
            "400",
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(output) as image:
        assert image.size == (400, 576)
    assert "without packshot" not in result.output


def test_render_reports_products_without_packshots(tmp_path) -> None:
    output = tmp_path / "bay.png"
    source = REPO / "planograms" / "demo-store" / "crackers.json"
    result = runner.invoke(app, ["render", str(source), "-o", str(output), "--width-px", "300"])
    assert result.exit_code == 0, result.output
    assert "11 of 11 products without packshot" in result.output
    assert output.read_bytes().startswith(b"\x89PNG")


def test_schema_command_prints_the_published_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    published = (REPO / "planograms" / "schema" / "planogram.schema.json").read_text()
    assert result.output == published
