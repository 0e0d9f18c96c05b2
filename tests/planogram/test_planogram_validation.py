"""Every validation rule, each exercised with a bad file, checking the located message."""

from __future__ import annotations

import codecs
import json
from typing import Any

import pytest

from shelfscan.planogram.canonical import dump_canonical, load_canonical
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.loader import load_planogram_file, read_planogram
from shelfscan.planogram.model import Fixture, FixtureType, Position, Product
from shelfscan.planogram.validation import (
    check_units,
    gtin_problem,
    gtin_with_check_digit,
    validate_planogram,
)

from .conftest import (
    AZURE_SAMPLE,
    FIXTURES,
    as_text,
    needs_azure_sample,
    problems_of,
    tiny_azure,
)


def tiny_canonical() -> dict[str, Any]:
    return json.loads((FIXTURES / "tiny_canonical.json").read_text())


def canonical_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_good_files_have_no_problems() -> None:
    for name in ("tiny_azure.json", "tiny_canonical.json", "tiny.psa"):
        result = read_planogram(FIXTURES / name)
        assert result.problems == [], name
        assert result.planogram is not None and len(result.planogram.facings()) == 11


@needs_azure_sample
def test_azure_sample_is_valid_despite_touching_and_stacked_facings() -> None:
    # Ritz sits on shelf 0005 with its side view stacked on top; Fresh Stacks touch Ritz.
    assert read_planogram(AZURE_SAMPLE).problems == []


def test_unknown_product_named_in_azure_camel_case() -> None:
    document = tiny_azure()
    document["positions"][3]["productId"] = "0099"
    assert as_text(problems_of(json.dumps(document), "bay.json")) == [
        "positions[3].productId: unknown product '0099'"
    ]


def test_unknown_references_named_in_azure_pascal_case() -> None:
    document = tiny_azure()
    pascal = {
        key[:1].upper() + key[1:]: (
            [{k[:1].upper() + k[1:]: v for k, v in item.items()} for item in value]
            if isinstance(value, list)
            else value
        )
        for key, value in document.items()
    }
    pascal["Positions"][0]["FixtureId"] = "9"
    pascal["Positions"][5]["ProductId"] = "Z"
    assert as_text(problems_of(json.dumps(pascal), "bay.json")) == [
        "Positions[0].FixtureId: unknown fixture '9'",
        "Positions[5].ProductId: unknown product 'Z'",
    ]


def test_unknown_product_in_psa_names_the_line() -> None:
    text = (FIXTURES / "tiny.psa").read_text().replace("Position,,C,C,", "Position,,Q,Q,")
    problems = problems_of(text, "bay.psa")
    assert as_text(problems) == [
        "line 9 (Position): unknown product (UPC '', ID 'Q'): no Product record has it"
    ]


def test_duplicate_ids_each_reported_with_the_first_use() -> None:
    document = tiny_canonical()
    document["products"][2]["id"] = "A"
    document["fixtures"][1]["id"] = "1"
    document["positions"][3]["id"] = "1-1"
    problems = as_text(problems_of(canonical_bytes(document), "bay.json"))
    assert "products[2].id: duplicate id 'A' (first used at products[0])" in problems
    assert "fixtures[1].id: duplicate id '1' (first used at fixtures[0])" in problems
    assert "positions[3].id: duplicate id '1-1' (first used at positions[0])" in problems


def test_overlapping_facings_on_one_fixture() -> None:
    document = tiny_canonical()
    # Position 1-1 (three 5-wide facings from x=0) grows to four and runs into 1-2 at x=15.
    document["positions"][0]["hfacings"] = 4
    problems = as_text(problems_of(canonical_bytes(document), "bay.json"))
    assert problems == [
        "positions[1]: facings overlap position '1-1' at positions[0] by 5 × 8 in on fixture '1'"
    ]


def test_overlap_in_azure_file_between_single_facing_positions() -> None:
    document = tiny_azure()
    document["positions"][1]["x"] = 3.0  # p02 now covers 3–8, over p01 (0–5) and p03 (10–15)
    problems = as_text(problems_of(json.dumps(document), "bay.json"))
    assert problems == [
        "positions[1]: facings overlap position 'p01' at positions[0] by 2 × 8 in on fixture '1'"
    ]


def test_touching_facings_are_not_overlaps() -> None:
    document = tiny_azure()
    document["positions"][1]["x"] = 5.0 + 1e-9
    assert problems_of(json.dumps(document), "bay.json") == []


def test_position_outside_the_planogram_and_off_its_fixture() -> None:
    document = tiny_canonical()
    document["positions"][3]["x"] = 27.0  # two 5-wide facings: 27–37 on a 30-wide planogram
    problems = as_text(problems_of(canonical_bytes(document), "bay.json"))
    assert problems == [
        "positions[3]: facings span x 27–37, y 2–10, outside the planogram (0–30 × 0–24 in)",
        "positions[3].x: facings span x 27–37 but fixture '2' spans x 0–30",
    ]
    document = tiny_azure()
    document["fixtures"][1]["w"] = 24.0  # shelf 2 now ends at x=24; p11 (A, 21–26) is off it
    problems = as_text(problems_of(json.dumps(document), "bay.json"))
    assert problems == ["positions[10].x: facings span x 21–26 but fixture '2' spans x 0–24"]


def test_position_below_its_shelf_top() -> None:
    document = tiny_azure()
    document["positions"][0]["y"] = 15.0  # bottom at 23, inside shelf 1 whose top is at 22
    problems = as_text(problems_of(json.dumps(document), "bay.json"))
    assert problems == [
        "positions[0].y: bottom at y 23 is below the top of fixture '1' (y 22); "
        "products stand on their shelf"
    ]


def test_product_taller_than_the_space_above_its_shelf() -> None:
    document = tiny_azure()
    document["products"][2]["h"] = 11.0  # Gamma Chips on shelf 1: 10 in of space up to shelf 2
    for position in document["positions"]:
        if position["productId"] == "C":
            position["y"] = 22.0 - 11.0
    problems = as_text(problems_of(json.dumps(document), "bay.json"))
    assert problems == [
        f"positions[{i}]: product 'Gamma Chips' is 11 in tall (1 × 11) but the space above "
        "fixture '1' is 10 in"
        for i in (3, 4)
    ]


def test_stack_of_vfacings_taller_than_the_space_in_psa() -> None:
    text = (FIXTURES / "tiny.psa").read_text()
    # Gamma Chips on the bottom shelf stacked two high: 18 in, but the shelf has 10 in of space.
    text = text.replace(
        "Position,,C,C,15,12,2,9,0,4,0,0,0,0,2,1,1", "Position,,C,C,15,12,2,9,0,4,0,0,0,0,2,2,1"
    )
    problems = as_text(problems_of(text, "bay.psa"))
    assert problems == [
        "line 9 (Position): product 'Gamma Chips' is 18 in tall (2 × 9) but the space above "
        "fixture '1' is 10 in"
    ]


def test_top_above_the_space_of_its_fixture() -> None:
    document = tiny_azure()
    document["positions"][0]["y"] = 11.0  # 11–19 on shelf 1 (top 22): pokes into shelf 2 (10–12)
    problems = as_text(problems_of(json.dumps(document), "bay.json"))
    assert problems == [
        "positions[0].y: top at y 11 reaches above the space of fixture '1', which ends at y 12"
    ]


def test_non_positive_nan_and_infinite_sizes() -> None:
    text = (
        json.dumps(tiny_azure())
        .replace('"w": 5.0, "h": 8.0', '"w": NaN, "h": 0')
        .replace('"w": 4.0, "h": 6.0', '"w": Infinity, "h": -6')
        .replace('"width": 30.0', '"width": -30')
    )
    problems = as_text(problems_of(text, "bay.json"))
    assert problems == [
        "width: size must be positive, got -30",
        "products[0].w: size is NaN",
        "products[0].h: size must be positive, got 0",
        "products[1].w: size is infinite (inf)",
        "products[1].h: size must be positive, got -6",
    ]


def test_non_finite_coordinates_and_bad_facings_in_canonical() -> None:
    document = tiny_canonical()
    document["fixtures"][0]["y"] = float("nan")
    document["positions"][2]["hfacings"] = 0
    problems = as_text(problems_of(canonical_bytes(document), "bay.json"))
    assert problems == [
        "fixtures[0].y: coordinate must be finite, got nan",
        "positions[2].hfacings: facings must be at least 1, got 0",
    ]


def test_psa_field_that_is_not_a_number() -> None:
    text = (FIXTURES / "tiny.psa").read_text().replace(",0,0,0,0,3,1,2", ",0,0,0,0,abc,1,2")
    problems = as_text(problems_of(text, "bay.psa"))
    assert problems == ["line 8 (Position): field 'HFacings' is not a whole number: 'abc'"]
    text = (
        (FIXTURES / "tiny.psa")
        .read_text()
        .replace("Product,,B,Beta Cookies,B,4,", "Product,,B,Beta Cookies,B,four,")
    )
    assert as_text(problems_of(text, "bay.psa")) == [
        "line 4 (Product): field 'Width' is not a number: 'four'"
    ]


def test_mixed_units_in_psa_and_csv_and_on_request() -> None:
    text = (
        (FIXTURES / "tiny.psa")
        .read_text()
        .replace("Planogram,Tiny,TINY-1,30,24,12", "Planogram,Tiny,TINY-1,30,24,12,cm")
    )
    assert as_text(problems_of(text, "bay.psa")) == [
        "line 2 (Planogram): mixed units: 'cm' here but 'in' at line 1 (Project); "
        "convert the file to one unit"
    ]
    csv_text = (
        "shelf,sequence,product,facings,width,height,unit\n1,1,A,2,5,8,in\n1,2,B,1,12,20,cm\n"
    )
    assert as_text(problems_of(csv_text, "bay.csv")) == [
        "line 3: mixed units: 'cm' here but 'in' at line 2; convert the file to one unit"
    ]
    from shelfscan.planogram.model import Unit

    problems = as_text(
        problems_of((FIXTURES / "tiny_canonical.json").read_bytes(), "b.json", unit=Unit.CM)
    )
    assert problems == ["unit: mixed units: the file says 'in' but 'cm' was asked for"]
    assert as_text(check_units([("a", "inches"), ("b", "furlongs")])) == [
        "b: unknown unit 'furlongs'; expected mm, cm or in"
    ]


def test_empty_planograms() -> None:
    document = tiny_azure()
    document["positions"] = []
    document["products"] = []
    assert as_text(problems_of(json.dumps(document), "bay.json")) == [
        "products: the planogram has no products",
        "positions: the planogram has no positions",
    ]
    assert as_text(problems_of(b"  \n", "bay.json")) == ["file: the file is empty"]
    assert as_text(problems_of("Project,x,in\nPlanogram,P,K,30,24\n", "bay.psa")) == [
        "file: the planogram has no products",
        "file: the planogram has no fixtures",
        "file: the planogram has no positions",
    ]


def test_files_too_large(tmp_path) -> None:
    data = (FIXTURES / "tiny_canonical.json").read_bytes()
    problems = as_text(problems_of(data, "bay.json", max_bytes=1000))
    assert problems == [f"file: {len(data):,} bytes is over the limit of 1,000 bytes"]
    path = tmp_path / "bay.json"
    path.write_bytes(data)
    with pytest.raises(PlanogramError) as caught:
        load_planogram_file(path, max_bytes=1000)
    assert "over the limit" in caught.value.problems[0].problem


def test_wrong_encodings() -> None:
    text = (FIXTURES / "tiny_azure.json").read_text()
    assert as_text(problems_of(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "b.json")) == [
        "file: JSON file is UTF-16 encoded; save it as UTF-8"
    ]
    assert as_text(problems_of(text.encode("utf-16-le"), "b.json"))[0].startswith(
        "line 1: JSON file contains NUL bytes"
    )
    latin = text.replace("Beta Cookies", "Bêta Cookies").encode("cp1252")
    problems = as_text(problems_of(latin, "b.json"))
    assert len(problems) == 1
    assert problems[0].startswith("line 6: JSON file is not valid utf-8: byte 0xea")
    # 0x81 is undefined in cp1252 and invalid UTF-8: a PSA file with it is neither.
    psa = (FIXTURES / "tiny.psa").read_bytes().replace(b"Gamma", b"G\x81mma")
    problems = as_text(problems_of(psa, "b.psa"))
    assert problems[0].startswith("line 5: ProSpace file is not valid utf-8 or cp1252: byte 0x81")


def test_canonical_type_errors_and_unknown_fields_all_reported() -> None:
    document = tiny_canonical()
    document["positions"][1]["hfacings"] = "two"
    document["products"][0]["colour"] = "red"
    document["unit"] = "furlong"
    with pytest.raises(PlanogramError) as caught:
        load_canonical(json.dumps(document))
    locations = [p.location for p in caught.value.problems]
    assert locations == ["unit", "products[0].colour", "positions[1].hfacings"]
    assert "unknown field" in caught.value.problems[1].problem


def test_invalid_json_names_line_and_column() -> None:
    assert as_text(problems_of('{"width": 3,\n  "height": }', "b.json")) == [
        "line 2, column 13: invalid JSON: Expecting value"
    ]


def test_gtins_and_sequences() -> None:
    assert gtin_problem(gtin_with_check_digit("400638133393")) is None
    assert gtin_problem("4006381333932") == "GTIN check digit of '4006381333932' should be 1"
    assert gtin_problem("12345") == "GTIN must have 8, 12, 13 or 14 digits, got 5 in '12345'"
    document = tiny_canonical()
    document["products"][0]["gtin"] = "4006381333932"
    document["positions"][0]["sequence"] = 2  # shelf 1 already has sequence 2 at positions[1]
    problems = as_text(problems_of(canonical_bytes(document), "bay.json"))
    assert problems == [
        "products[0].gtin: GTIN check digit of '4006381333932' should be 1",
        "positions[1].sequence: sequence 2 on fixture '1' is also used at positions[0]",
    ]


def test_hanging_products_on_a_peg() -> None:
    planogram = load_canonical((FIXTURES / "tiny_canonical.json").read_text())
    peg = Fixture(id="peg", type=FixtureType.PEG, x=20, y=13, w=10, h=0.5)
    hook = Product(id="H", name="Hooked Snack", w=3, h=5)
    planogram = planogram.model_copy(
        update={
            "fixtures": [*planogram.fixtures, peg],
            "products": [*planogram.products, hook],
            "positions": [
                *[p for p in planogram.positions if p.id != "1-2"],
                Position(id="ok", product_id="H", fixture_id="peg", x=20, y=13.5),
                Position(id="long", product_id="H", fixture_id="peg", x=24, y=13.5, vfacings=2),
                Position(id="high", product_id="H", fixture_id="peg", x=27, y=12),
            ],
        }
    )
    problems = as_text(validate_planogram(planogram))
    assert problems == [
        "positions[4]: product 'Hooked Snack' hangs 10 in (2 × 5) but fixture 'peg' has "
        "8.5 in below it",
        "positions[5].y: top at y 12 is above the peg 'peg' it hangs from (y 13.5)",
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    document = tiny_azure()
    document["positions"][0]["productId"] = "nope"
    document["positions"][6]["fixtureId"] = "nope"
    document["products"][1]["w"] = -1
    document["fixtures"][0]["w"] = 0
    problems = problems_of(json.dumps(document), "bay.json")
    assert [p.location for p in problems] == [
        "products[1].w",
        "fixtures[0].w",
        "positions[0].productId",
        "positions[6].fixtureId",
    ]


def test_canonical_round_trip_is_exact() -> None:
    planogram = load_canonical((FIXTURES / "tiny_canonical.json").read_text())
    assert load_canonical(dump_canonical(planogram)) == planogram
    assert dump_canonical(planogram) == (FIXTURES / "tiny_canonical.json").read_text()
