"""Importers and exporters: the same layout from Azure JSON, ProSpace, CSV and XLSX is the same
canonical planogram, and exports read back to what was written."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from shelfscan.planogram.azure_json import export_azure_planogram, import_azure_planogram
from shelfscan.planogram.canonical import dump_canonical, load_canonical
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.loader import (
    PlanogramFormat,
    detect_format,
    load_planogram_bytes,
    load_planogram_document,
    load_planogram_file,
    read_planogram,
)
from shelfscan.planogram.model import FixtureType, Planogram, Product, Unit
from shelfscan.planogram.psa import export_psa, import_psa
from shelfscan.planogram.tabular import TabularLayout, parse_csv, parse_xlsx
from shelfscan.planogram.validation import validate_planogram

from .conftest import AZURE_SAMPLE, FIXTURES, as_text, needs_azure_sample, tiny_azure

TINY_LAYOUT = TabularLayout(width=30, height=24, shelf_thickness=2)


def layout_of(planogram: Planogram) -> dict[str, Any]:
    """What matching sees: sizes, fixtures, products and every facing's rectangle."""
    return {
        "size": (planogram.width, planogram.height, planogram.unit),
        "fixtures": sorted(
            (f.id, f.type, round(f.x, 6), round(f.y, 6), round(f.w, 6), round(f.h, 6))
            for f in planogram.fixtures
        ),
        "products": sorted((p.id, p.name, p.w, p.h) for p in planogram.products),
        "facings": sorted(
            (f.product_id, f.fixture_id, round(f.x, 6), round(f.y, 6), f.w, f.h)
            for f in planogram.facings()
        ),
    }


def tiny_from_azure() -> Planogram:
    return import_azure_planogram(tiny_azure())


def test_psa_imports_to_the_same_layout_as_azure_json() -> None:
    from_psa = import_psa((FIXTURES / "tiny.psa").read_bytes())
    assert layout_of(from_psa) == layout_of(tiny_from_azure())
    # What the PSA adds: a bay, fixture membership, facings counts, depth, sequences.
    assert [b.id for b in from_psa.bays] == ["Bay 1"]
    assert {f.bay_id for f in from_psa.fixtures} == {"Bay 1"}
    assert [(p.id, p.hfacings, p.sequence) for p in from_psa.positions] == [
        ("1-1", 3, 1),
        ("1-2", 2, 2),
        ("2-1", 4, 1),
        ("2-2", 2, 2),
    ]
    assert from_psa.name == "Tiny" and from_psa.unit is Unit.IN


def test_csv_and_xlsx_import_to_the_same_layout_as_azure_json() -> None:
    from_csv = parse_csv((FIXTURES / "tiny.csv").read_bytes(), TINY_LAYOUT).planogram
    assert layout_of(from_csv) == layout_of(tiny_from_azure())
    assert validate_planogram(from_csv) == []

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for line in (FIXTURES / "tiny.csv").read_text().splitlines():
        sheet.append([float(c) if c.replace(".", "").isdigit() else c for c in line.split(",")])
    buffer = io.BytesIO()
    workbook.save(buffer)
    from_xlsx = parse_xlsx(buffer.getvalue(), TINY_LAYOUT).planogram
    assert layout_of(from_xlsx) == layout_of(tiny_from_azure())


def test_psa_positions_relative_to_their_fixture() -> None:
    # The same layout written the way some exports do: x from the fixture's left edge,
    # y from its top surface. Shelf 2 is moved right by 2 so the offset matters.
    text = (
        "Project,Relative,in\r\n"
        "Planogram,Tiny,TINY-1,32,24,12\r\n"
        "Product,,A,Alpha Crackers,A,5,8,3\r\n"
        "Product,,B,Beta Cookies,B,4,6,3\r\n"
        "Fixture,top,0,0,2,12,30,2\r\n"
        "Position,,B,B,0,16,0,6,0,3,0,0,0,0,4,1,2\r\n"
        "Position,,A,A,16,10,0,8,0,3,0,0,0,0,2,1,2\r\n"
    )
    planogram = import_psa(text, position_origin="fixture")
    assert [(f.product_id, f.x, f.y) for f in planogram.facings()][::4] == [
        ("B", 2.0, 4.0),
        ("A", 18.0, 2.0),
    ]
    assert validate_planogram(planogram) == []


def test_psa_cp1252_escapes_fixture_types_and_segments() -> None:
    text = (
        "Project,Épicerie,metric\r\n"
        "Planogram,Café bay,K,100,60,40\r\n"
        "Product,3017620422003,P1,Crème\\, Salted,K1,10,20,5,255,Maison,Biscuits,2.5\r\n"
        "Segment,Left,S1,0,0,50,60,40\r\n"
        "Fixture,Shelf A,0,0,0,0,50,2,40,0\r\n"
        "Position,3017620422003,,,0,20,2,20,0,5,0,0,0,0,2,1,1\r\n"
        "Segment,Right,S2,50,0,50,60,40\r\n"
        "Fixture,Pegs,0,Pegboard,50,40,50,1,2,0\r\n"
        "Position,,P1,,60,10,19,20,0,5,0,0,0,0,1,1,1\r\n"
    )
    planogram = import_psa(text.encode("cp1252"))
    assert planogram.unit is Unit.CM
    assert planogram.products[0].model_dump(exclude={"packshots"}) == {
        "id": "P1",
        "gtin": "3017620422003",
        "name": "Crème, Salted",
        "brand": "Maison",
        "category": "Biscuits",
        "w": 10.0,
        "h": 20.0,
        "depth": 5.0,
    }
    assert [(b.id, b.x, b.w) for b in planogram.bays] == [
        ("Left", 0.0, 50.0),
        ("Right", 50.0, 50.0),
    ]
    assert [(f.id, f.type, f.bay_id, f.y) for f in planogram.fixtures] == [
        ("Shelf A", FixtureType.SHELF, "Left", 58.0),
        ("Pegs", FixtureType.PEG, "Right", 19.0),
    ]
    # The position found its product by UPC alone, and the peg item hangs below the peg.
    assert [(p.product_id, p.y) for p in planogram.positions] == [("P1", 38.0), ("P1", 21.0)]
    assert validate_planogram(planogram) == []


def test_psa_structural_problems_all_located() -> None:
    text = (
        "Planogram,P,K,30,24\r\n"
        "Position,,A,,0,5,0,8,0,3,0,0,0,0,1,1,1\r\n"
        "Product,,A,Alpha,,5,8\r\n"
        "Fixture,1,0,Hovercraft,0,0,30,2\r\n"
        "Fixture,2,0,0,0,abc,30,2\r\n"
        "Planogram,Q,K,30,24\r\n"
    )
    with pytest.raises(PlanogramError) as caught:
        import_psa(text)
    assert as_text(caught.value.problems) == [
        "line 2 (Position): Position record before any Fixture record; each position belongs "
        "to the fixture above it",
        "line 4 (Fixture): field 'Type' is not a fixture type: 'Hovercraft'",
        "line 5 (Fixture): field 'Y' is not a number: 'abc'",
        "line 6 (Planogram): a second Planogram record (the first is at line 1 (Planogram)); "
        "split the file, one planogram each",
    ]


def test_exports_read_back_to_the_same_planogram() -> None:
    planogram = import_psa((FIXTURES / "tiny.psa").read_bytes())
    assert load_canonical(dump_canonical(planogram)) == planogram
    again = import_psa(export_psa(planogram).encode("cp1252"))
    assert again == planogram
    azure = export_azure_planogram(planogram)
    assert len(azure["positions"]) == 11  # one per facing
    assert layout_of(import_azure_planogram(azure)) == layout_of(planogram)


@needs_azure_sample
def test_azure_sample_imports_and_survives_round_trips() -> None:
    planogram = load_planogram_file(AZURE_SAMPLE)
    assert (len(planogram.positions), len(planogram.products), len(planogram.fixtures)) == (
        58,
        13,
        6,
    )
    assert (planogram.width, planogram.height) == (50.0, 72.0)
    assert planogram.positions[0].model_dump() == {
        "id": "0001",
        "product_id": "0006",
        "fixture_id": "0001",
        "x": 1.0,
        "y": 61.6,
        "hfacings": 1,
        "vfacings": 1,
        "sequence": None,
    }
    via_psa = import_psa(export_psa(planogram))
    assert layout_of(via_psa) == layout_of(planogram)
    assert validate_planogram(via_psa) == []
    exported = export_azure_planogram(planogram)
    original = json.loads(AZURE_SAMPLE.read_text())
    assert [p["id"] for p in exported["positions"]] == [p["Id"] for p in original["Positions"]]
    assert layout_of(import_azure_planogram(exported)) == layout_of(planogram)


def test_csv_without_shelf_heights_is_laid_out_to_fit() -> None:
    text = (
        "Bay;Shelf;Seq;SKU;UPC;Description;Facings;Width;Height;UOM\n"
        "2;1;1;S1;012345678905;Soda 2L;3;11,5;32;cm\n"
        "1;1;1;S2;;Water 1.5L;4;9;30;cm\n"
        "1;2;2;S3;;Juice;2;7;24;cm\n"
        "1;2;1;S4;;Iced tea;2;7;25;cm\n"
    )
    planogram = parse_csv(text.encode(), TabularLayout(shelf_thickness=3)).planogram
    assert planogram.unit is Unit.CM
    assert [(b.id, b.x, b.w) for b in planogram.bays] == [("1", 0.0, 36.0), ("2", 36.0, 34.5)]
    fixtures = {f.id: (f.x, round(f.y, 6), f.w) for f in planogram.fixtures}
    # Shelf 2 (top) holds up to 25 cm (+10 % clearance); shelf 1 below holds 32 cm.
    assert fixtures == {
        "1/2": (0.0, 27.5, 36.0),
        "1/1": (0.0, 65.7, 36.0),
        "2/1": (36.0, 65.7, 34.5),
    }
    assert planogram.height == pytest.approx(68.7)
    by_product = {p.product_id: (p.x, p.sequence, p.hfacings) for p in planogram.positions}
    assert by_product == {
        "S1": (36.0, 1, 3),
        "S2": (0.0, 1, 4),
        "S3": (14.0, 2, 2),
        "S4": (0.0, 1, 2),
    }
    assert planogram.products[0].gtin == "012345678905"
    assert validate_planogram(planogram) == []


def test_csv_row_problems_are_located_by_line() -> None:
    text = (
        "shelf,sequence,product,facings,width,height\n"
        "1,1,A,2,5,8\n"
        "1,1,B,1,4,6\n"
        "1,2,A,x,5,9\n"
        ",3,C,1,4,6\n"
    )
    with pytest.raises(PlanogramError) as caught:
        parse_csv(text)
    assert as_text(caught.value.problems) == [
        "line 4: product 'A': height 9.0 differs from 8.0 given at line 2",
        "line 3: sequence 1 on shelf '1' is also used at line 2",
        "line 5: column 'shelf' is empty",
    ]
    with pytest.raises(PlanogramError) as caught:
        parse_csv("shelf,product,facings\n1,A,2\n")
    assert as_text(caught.value.problems) == [
        "file: column 'sequence' is missing",
        "file: column 'width' is missing: product sizes are needed to lay the shelves out "
        "(or pass a product catalogue)",
        "file: column 'height' is missing: product sizes are needed to lay the shelves out "
        "(or pass a product catalogue)",
    ]


def test_csv_sizes_from_a_catalogue_and_planogram_selection() -> None:
    catalog = {
        "A": Product(id="A", gtin="4006381333931", name="Alpha", w=5, h=8, brand="Acme"),
        "B": Product(id="B", name="Beta", w=4, h=6),
    }
    text = "planogram,shelf,sequence,product,facings\nnorth,1,1,A,2\nnorth,1,2,B,1\nsouth,1,1,B,5\n"
    with pytest.raises(PlanogramError, match="the file holds 2 planograms"):
        parse_csv(text, TabularLayout(catalog=catalog))
    planogram = parse_csv(text, TabularLayout(catalog=catalog, select_planogram="north")).planogram
    assert planogram.id == "north"
    assert [(p.id, p.gtin, p.brand, p.w) for p in planogram.products] == [
        ("A", "4006381333931", "Acme", 5.0),
        ("B", None, None, 4.0),
    ]
    assert [(p.x, p.hfacings) for p in planogram.positions] == [(0.0, 2), (10.0, 1)]


def test_xlsx_numeric_gtins_get_their_leading_zeros_back() -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Bay 7"
    sheet.append(["Shelf", "Sequence", "GTIN", "Facings", "Width", "Height"])
    sheet.append([1, 1, 12345678905, 2, 5, 8])  # UPC-A 012345678905 stored as a number
    sheet.append([1, 2, 4006381333931, "two", 5, 8])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(PlanogramError) as caught:
        parse_xlsx(buffer.getvalue())
    assert as_text(caught.value.problems) == [
        "sheet 'Bay 7' row 3: column 'Facings' is not a whole number: 'two'"
    ]
    sheet.cell(row=3, column=4, value=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    planogram = parse_xlsx(buffer.getvalue()).planogram
    assert [p.gtin for p in planogram.products] == ["012345678905", "4006381333931"]
    with pytest.raises(PlanogramError, match=r"not a readable \.xlsx workbook"):
        parse_xlsx(b"PK\x03\x04 not really a zip")


def test_format_detection() -> None:
    azure = (FIXTURES / "tiny_azure.json").read_bytes()
    canonical = (FIXTURES / "tiny_canonical.json").read_bytes()
    psa = (FIXTURES / "tiny.psa").read_bytes()
    csv = (FIXTURES / "tiny.csv").read_bytes()
    assert detect_format(azure) is PlanogramFormat.AZURE
    assert detect_format(canonical) is PlanogramFormat.CANONICAL
    assert detect_format(psa) is PlanogramFormat.PSA
    assert detect_format(csv) is PlanogramFormat.CSV
    assert detect_format(psa, "x.csv") is PlanogramFormat.CSV  # the extension wins
    assert detect_format(b"PK\x03\x04...") is PlanogramFormat.XLSX
    result = read_planogram(canonical, format="bogus")
    assert as_text(result.problems) == [
        "format: unknown format 'bogus'; use canonical, azure, psa, csv, xlsx"
    ]


def test_bytes_and_document_entry_points_for_the_api() -> None:
    imported = load_planogram_bytes((FIXTURES / "tiny.psa").read_bytes(), filename="bay.psa")
    assert imported.format == "psa" and len(imported.planogram.facings()) == 11
    document = tiny_azure()
    assert load_planogram_document(document).id == "azure"
    document["positions"][0]["productId"] = "0099"
    with pytest.raises(PlanogramError) as caught:
        load_planogram_document(document)
    assert [p.as_dict() for p in caught.value.problems] == [
        {"location": "positions[0].productId", "problem": "unknown product '0099'"}
    ]
