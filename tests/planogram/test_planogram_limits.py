"""Hostile and oversized planograms: bounded work, capped answers, located refusals.

Regression tests for issue 19 (overlap checks that were quadratic, answers of 46 MB, a sparse
XLSX that blocked for 27 s, unlimited sizes, path-like planogram ids, JSON that crashed the
decoder). They assert behaviour — what is refused and how it is named — not speed.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfscan.planogram.canonical import planogram_to_dict
from shelfscan.planogram.errors import DEFAULT_MAX_PROBLEMS, PlanogramError
from shelfscan.planogram.limits import PlanogramLimits, PlanogramTooLarge
from shelfscan.planogram.loader import (
    load_planogram_bytes,
    load_planogram_document,
    read_planogram,
)
from shelfscan.planogram.model import Fixture, Planogram, Position, Product, Unit
from shelfscan.planogram.tabular import get_column_letter, parse_xlsx
from shelfscan.planogram.validation import validate_planogram

from .conftest import AZURE_SAMPLE_DIR, FIXTURES, REPO, as_text, problems_of, tiny_azure

OVERLAP = re.compile(r"facings overlap position '(?P<other>[^']+)' at positions\[(?P<at>\d+)\]")


def tiny_canonical() -> dict[str, Any]:
    return json.loads((FIXTURES / "tiny_canonical.json").read_text())


def one_shelf(positions: list[tuple[float, float, int, int]], width: float = 10.0) -> Planogram:
    """Positions (x, y, hfacings, vfacings) of one product on one roomy fixture."""
    return Planogram(
        id="pile",
        unit=Unit.CM,
        width=10_000,
        height=10_000,
        fixtures=[Fixture(id="f", x=0, y=9_000, w=10_000, h=2)],
        products=[Product(id="p", name="P", w=width, h=20)],
        positions=[
            Position(id=f"p{i}", product_id="p", fixture_id="f", x=x, y=y, hfacings=hf, vfacings=vf)
            for i, (x, y, hf, vf) in enumerate(positions)
        ],
    )


def overlapping_pairs_by_brute_force(planogram: Planogram, tol: float) -> set[tuple[int, int]]:
    """Every pair of positions with facings overlapping by more than ``tol`` both ways."""
    facings: dict[int, list[tuple[float, float, float, float]]] = {}
    ids = {p.id: i for i, p in enumerate(planogram.positions)}
    for facing in planogram.facings():
        facings.setdefault(ids[facing.position_id], []).append(facing.bounds)
    pairs = set()
    for a, b in combinations(sorted(facings), 2):
        for fa in facings[a]:
            if any(
                min(fa[2], fb[2]) - max(fa[0], fb[0]) > tol
                and min(fa[3], fb[3]) - max(fa[1], fb[1]) > tol
                for fb in facings[b]
            ):
                pairs.add((a, b))
                break
    return pairs


def reported_pairs(planogram: Planogram) -> set[tuple[int, int]]:
    pairs = set()
    for problem in validate_planogram(planogram, max_problems=None):
        match = OVERLAP.search(problem.problem)
        if match:
            here = int(re.search(r"\[(\d+)\]", problem.location).group(1))
            pairs.add((int(match["at"]), here))
    return pairs


BLOCKS = st.lists(
    st.tuples(
        st.integers(0, 60),
        st.integers(8_900, 8_960),
        st.integers(1, 3),
        st.integers(1, 2),
    ),
    min_size=2,
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(BLOCKS)
def test_sweep_reports_real_overlaps_and_covers_every_one(
    blocks: list[tuple[int, int, int, int]],
) -> None:
    planogram = one_shelf([(float(x), float(y), hf, vf) for x, y, hf, vf in blocks])
    truth = overlapping_pairs_by_brute_force(planogram, tol=0.05)
    reported = reported_pairs(planogram)
    # Nothing reported that does not overlap; each pair named once, at its later position.
    assert reported <= truth
    assert all(first < second for first, second in reported)
    # Every overlap is reported through at least one of its two positions.
    involved = {index for pair in reported for index in pair}
    for first, second in truth:
        assert first in involved or second in involved


def test_positions_piled_on_one_shelf_give_a_capped_answer() -> None:
    planogram = one_shelf([(0.0, 8_980.0, 1, 1)] * 1_000)
    problems = validate_planogram(planogram)
    assert len(problems) == DEFAULT_MAX_PROBLEMS + 1
    assert all(OVERLAP.search(p.problem) for p in problems[:-1])
    last = problems[-1]
    assert last.location == "planogram"
    assert "more problems not listed" in last.problem
    assert f"first {DEFAULT_MAX_PROBLEMS} are reported" in last.problem
    left_out = int(re.search(r"and ([\d,]+) more", last.problem).group(1).replace(",", ""))
    # Every position but one overlaps an earlier one: 999 problems found in all.
    assert left_out == 999 - DEFAULT_MAX_PROBLEMS
    # The cap is configurable and None lists everything.
    assert len(validate_planogram(planogram, max_problems=10)) == 11
    assert len(validate_planogram(planogram, max_problems=None)) == 999


def test_loader_counts_what_it_leaves_out_once() -> None:
    data = json.dumps(planogram_to_dict(one_shelf([(0.0, 8_980.0, 1, 1)] * 1_000))).encode()
    problems = problems_of(data, "pile.json")
    assert len(problems) == DEFAULT_MAX_PROBLEMS + 1
    assert problems[-1].problem.startswith(f"and {999 - DEFAULT_MAX_PROBLEMS:,} more problems")
    assert sum("not listed" in p.problem for p in problems) == 1


def test_loader_caps_importer_problems_too() -> None:
    rows = "".join(f"1,{i},A,x,5,8\n" for i in range(1, 300))
    csv_text = "shelf,sequence,product,facings,width,height\n" + rows
    problems = problems_of(csv_text, "bay.csv", limits=PlanogramLimits(max_problems=20))
    assert len(problems) == 21
    assert problems[0].location == "line 2"
    assert "and 279 more problems" in problems[-1].problem


def positions_document(count: int) -> dict[str, Any]:
    document = tiny_canonical()
    template = document["positions"][0]
    document["positions"] = [{**template, "id": f"p{i}", "sequence": None} for i in range(count)]
    return document


def test_positions_over_the_limit_are_refused_before_validation() -> None:
    limits = PlanogramLimits(max_positions=50)
    data = json.dumps(positions_document(51)).encode()
    result = read_planogram(data, filename="bay.json", limits=limits)
    assert result.too_large
    assert as_text(result.problems) == [
        "positions: 51 positions: more than the limit of 50 (max_positions)"
    ]
    with pytest.raises(PlanogramTooLarge) as raised:
        load_planogram_bytes(data, filename="bay.json", limits=limits)
    assert isinstance(raised.value, PlanogramError)
    with pytest.raises(PlanogramTooLarge, match="max_positions"):
        load_planogram_document(positions_document(51), limits=limits)
    # At the limit it loads (and is validated as usual: these positions all overlap).
    with pytest.raises(PlanogramError) as raised:
        load_planogram_document(positions_document(50), limits=limits)
    assert not isinstance(raised.value, PlanogramTooLarge)


def test_azure_sections_are_counted_as_spelled() -> None:
    document = tiny_azure()
    pascal = {key[:1].upper() + key[1:]: value for key, value in document.items()}
    pascal["Products"] = pascal["Products"] * 3
    count = len(pascal["Products"])
    with pytest.raises(PlanogramTooLarge) as raised:
        load_planogram_document(pascal, limits=PlanogramLimits(max_products=count - 1))
    assert as_text(raised.value.problems) == [
        f"Products: {count} products: more than the limit of {count - 1} (max_products)"
    ]


def test_facings_and_fixtures_limits() -> None:
    document = tiny_canonical()
    document["positions"][0]["hfacings"] = 10**9
    facings = sum(p.get("hfacings", 1) * p.get("vfacings", 1) for p in document["positions"])
    problems = as_text(problems_of(json.dumps(document).encode(), "bay.json"))
    assert problems == [
        f"positions: {facings:,} facings: more than the limit of 100,000 (max_facings)"
    ]
    problems = problems_of(
        json.dumps(tiny_canonical()).encode(), "bay.json", limits=PlanogramLimits(max_fixtures=1)
    )
    assert as_text(problems) == ["fixtures: 2 fixtures: more than the limit of 1 (max_fixtures)"]


def xlsx_bytes(cells: dict[str, object]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for address, value in cells.items():
        workbook.active[address] = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_sparse_xlsx_is_refused_by_its_dimension_naming_the_cell_and_the_limit() -> None:
    data = xlsx_bytes({"A1": "shelf", "XFD20000": 1})
    assert len(data) < 10_000
    result = read_planogram(data, filename="bay.xlsx")
    assert result.too_large
    assert as_text(result.problems) == [
        "sheet 'Sheet' cell XFD20000: the sheet's cells reach XFD20000, 16,384 columns: more "
        "than the limit of 256 columns (max_sheet_columns); delete the cells outside the table "
        "or copy the table to a new sheet"
    ]
    tall = xlsx_bytes({"A1": "shelf", "B1": "sequence", "A1048576": 1})
    with pytest.raises(PlanogramTooLarge, match=r"B1048576.*1,048,576 rows.*max_sheet_rows"):
        parse_xlsx(tall)


def without_dimension(data: bytes) -> bytes:
    """The same workbook with the sheet's declared used range removed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                content = re.sub(rb"<dimension[^>]*/>", b"", content)
            target.writestr(info, content)
    return out.getvalue()


def test_sheet_without_a_dimension_is_read_only_as_far_as_the_limits() -> None:
    cells: dict[str, object] = {"A1": "shelf", "B1": "sequence", "C1": "product"}
    cells.update({"D1": "width", "E1": "height", "A40": 1, "B40": 1, "C40": "A"})
    cells.update({"D40": 5, "E40": 8, "ZZ900": "far away"})
    data = without_dimension(xlsx_bytes(cells))
    planogram = parse_xlsx(data).planogram  # ZZ900 lies right of the header: never read
    assert [p.id for p in planogram.positions] == ["1-1"]
    with pytest.raises(PlanogramTooLarge) as raised:
        parse_xlsx(data, limits=PlanogramLimits(max_sheet_rows=30))
    assert as_text(raised.value.problems) == [
        "sheet 'Sheet' row 31: the sheet goes on past row 30: more than the limit of 30 rows "
        "(max_sheet_rows)"
    ]


def test_xlsx_that_unpacks_to_too_much_is_refused_before_parsing() -> None:
    data = xlsx_bytes({"A1": "shelf", "A2": "x" * 50_000})
    with pytest.raises(PlanogramTooLarge, match=r"bytes unpacked: more than the limit of 10,000"):
        parse_xlsx(data, limits=PlanogramLimits(max_unpacked_bytes=10_000))


def test_column_letters() -> None:
    assert [get_column_letter(n) for n in (1, 26, 27, 52, 16_384)] == ["A", "Z", "AA", "AZ", "XFD"]


@pytest.mark.parametrize(
    ("planogram_id", "expected"),
    [
        ("../../etc/passwd", "contains '/' at character 3"),
        ('say"cheese', "contains '\"' at character 4"),
        ("x" * 65, "65 characters long; at most 64"),
        ("..", "must not be '..'"),
    ],
)
def test_path_like_or_quoted_planogram_ids_are_refused(planogram_id: str, expected: str) -> None:
    document = tiny_canonical()
    document["id"] = planogram_id
    problems = problems_of(json.dumps(document).encode(), "bay.json")
    assert [p.location for p in problems] == ["id"]
    assert problems[0].problem.startswith("planogram id ") and expected in problems[0].problem
    # An id asked for explicitly is checked the same way, whatever the format; a ProSpace
    # file locates the id at its Planogram record.
    problems = problems_of(
        (FIXTURES / "tiny.psa").read_bytes(), "bay.psa", planogram_id=planogram_id
    )
    assert [p.location for p in problems] == ["line 2 (Planogram), field 'Name'"]
    assert expected in problems[0].problem


def test_ids_derived_from_file_and_planogram_names_are_made_valid() -> None:
    data = json.dumps(tiny_azure()).encode()
    assert read_planogram(data, filename="My bay (v2).json").planogram.id == "My-bay-v2"
    psa = (FIXTURES / "tiny.psa").read_text().replace("Planogram,Tiny,", "Planogram,Café bay/2,")
    result = read_planogram(psa.encode(), format="psa")
    assert result.problems == [] and result.planogram.id == "Cafe-bay-2"


def test_element_ids_with_control_characters_are_refused() -> None:
    document = tiny_canonical()
    document["products"][1]["id"] = "B\x00"
    document["positions"][2]["id"] = "1-\n3"
    problems = as_text(problems_of(json.dumps(document).encode(), "bay.json"))
    assert "products[1].id: id 'B\\x00' contains the control character U+0000 at character 2" in (
        problems
    )
    assert (
        "positions[2].id: id '1-\\n3' contains the control character U+000A at character 3"
        in problems
    )


def shipped_planograms() -> list[Path]:
    found = sorted((REPO / "planograms").glob("*/*.json"))
    found += sorted(AZURE_SAMPLE_DIR.glob("sample_planogram.json"))
    found += [FIXTURES / "tiny_canonical.json", FIXTURES / "tiny_azure.json", FIXTURES / "tiny.psa"]
    return [p for p in found if p.parent.name not in ("catalog", "schema", "models")]


@pytest.mark.parametrize("path", shipped_planograms(), ids=lambda p: p.name)
def test_every_shipped_planogram_still_validates(path: Path) -> None:
    result = read_planogram(path)
    assert result.problems == []
    assert result.planogram is not None


@pytest.mark.parametrize(
    ("body", "location", "expected"),
    [
        (
            b'{"id": "x", "positions": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
            "line 1, column ",
            "nested more than 64 levels",
        ),
        (b'{"id": "x",\n "width": ' + b"7" * 5_000 + b"}", "line 2, column 11", "5,000 digits"),
    ],
)
def test_hostile_json_gets_a_located_problem_not_a_crash(
    body: bytes, location: str, expected: str
) -> None:
    problems = problems_of(body, "bay.json")
    assert len(problems) == 1
    assert problems[0].location.startswith(location)
    assert expected in problems[0].problem
    with pytest.raises(PlanogramError):
        load_planogram_bytes(body, filename="bay.json")
    # Without a file name the content sniffing must not crash either.
    assert problems_of(body, "") == problems


def test_number_overflow_is_named_by_the_field_that_holds_it() -> None:
    text = json.dumps(tiny_canonical()).replace('"width": 30.0', '"width": 1e400', 1)
    assert as_text(problems_of(text, "bay.json")) == ["width: size is infinite (inf)"]
