"""Actions a clerk takes, and the KPIs, on the worked example of docs/kpis.md, matched by the
real engine from boxes drawn where the example says the products stand."""

from __future__ import annotations

import pytest

from shelfscan.compliance.actions import (
    ShelfLayout,
    build_actions,
    conclude,
    ordinal,
    positions_text,
)
from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import ActionKind, ComplianceReport
from shelfscan.compliance.text import WIDTH, render_report_text
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram

NAMES = {
    "A": "Alpenhof Nut Muesli 750 g",
    "B": "Alpenhof Fruit Muesli 750 g",
    "C": "Sunny Fields Corn Flakes 500 g",
    "D": "Sunny Fields Honey Rings 375 g",
    "E": "Oatbarn Porridge Oats 1 kg",
    "X": "Cocoland Choc Puffs 450 g",
}
SCALE, OFFSET = 10.0, 20.0  # pixels per unit, pixels of margin around the bay


def planogram(rows: list[str]) -> Planogram:
    """One shelf per row string (one product code per facing), 10 units a facing, with 10
    units of free space at the right end of each shelf."""
    fixtures, positions = [], []
    for s, row in enumerate(rows):
        fixture_y = 25 + 30 * s
        fixtures.append({"id": f"s{s + 1}", "x": 0, "y": fixture_y, "w": 60, "h": 30})
        for p, code in enumerate(row):
            positions.append(
                {
                    "id": f"s{s + 1}-p{p + 1}",
                    "product_id": code,
                    "fixture_id": f"s{s + 1}",
                    "x": 10 * p,
                    "y": fixture_y - 20,
                }
            )
    return Planogram.model_validate(
        {
            "id": "worked-example",
            "name": "Worked example",
            "unit": "cm",
            "width": 60,
            "height": 30 * len(rows) + 5,
            "fixtures": fixtures,
            "products": [
                {"id": code, "name": name, "w": 10, "h": 20}
                for code, name in NAMES.items()
                if code != "X"
            ],
            "positions": positions,
        }
    )


def photo(rows: list[str], *, width: int | None = None) -> Detections:
    """Boxes for what stands on the shelves: one code per slot, '.' for an empty one."""
    boxes, labels = [], []
    for s, row in enumerate(rows):
        top = 5 + 30 * s
        for p, code in enumerate(row):
            if code == ".":
                continue
            x = OFFSET + SCALE * 10 * p
            y = OFFSET + SCALE * top
            boxes.append([x + 4, y + 4, x + 96, y + 200])
            labels.append(NAMES[code])
    return Detections.build(
        boxes,
        labels,
        [0.9] * len(boxes),
        image_width=width or int(2 * OFFSET + SCALE * 60),
        image_height=int(2 * OFFSET + SCALE * (30 * len(rows) + 5)),
    )


PLANNED = ["AAABB", "CCDDE"]
SEEN = ["AA.BBX", "C.DCE"]


@pytest.fixture(scope="module")
def example() -> tuple[Planogram, ComplianceReport]:
    plan = planogram(PLANNED)
    detections = photo(SEEN)
    report = match_planogram(plan, detections)
    conclude(report, detections, plan)
    return plan, report


def test_the_worked_example_has_the_documented_verdicts(example) -> None:
    _, report = example
    c = report.counts
    assert (c.visible, c.ok, c.gap, c.misplaced, c.unexpected) == (10, 7, 2, 1, 1)


def test_kpis_of_the_worked_example(example) -> None:
    _, report = example
    s = report.scores
    assert s.on_shelf_availability == pytest.approx(7 / 10, abs=1e-4)
    assert s.out_of_stock_rate == pytest.approx(2 / 10, abs=1e-4)
    assert s.planogram_compliance == pytest.approx(7 / 11, abs=1e-4)
    assert s.facings_compliance == pytest.approx(8 / 10, abs=1e-4)
    # OSA + out of stock + misplaced share = 100 %
    assert s.on_shelf_availability + s.out_of_stock_rate + 1 / 10 == pytest.approx(1.0)
    # The retired score read 100 % with two gaps; OSA does not.
    assert s.availability == 1.0 and s.on_shelf_availability < 1.0
    shelf2 = next(f for f in report.fixtures if f.fixture_id == "s2")
    assert shelf2.scores.on_shelf_availability == pytest.approx(3 / 5, abs=1e-4)
    d = next(p for p in report.products if p.product_id == "D")
    assert d.scores.on_shelf_availability == pytest.approx(1 / 2)


def test_actions_of_the_worked_example(example) -> None:
    _, report = example
    texts = [a.text for a in report.actions]
    assert texts == [
        f"Fill 1 facing of {NAMES['A']} — shelf 1 from the top, 3rd from the left",
        f"Fill 1 facing of {NAMES['D']} — shelf 2 from the top, 4th from the left",
        f"Move {NAMES['C']} — shelf 2 from the top, from the 4th to the 2nd from the left "
        "(its empty spot)",
        f"Remove {NAMES['X']} (not in this bay's plan) — shelf 1 from the top, right end",
    ]
    kinds = [a.kind for a in report.actions]
    assert kinds == [ActionKind.FILL, ActionKind.FILL, ActionKind.MOVE, ActionKind.REMOVE]
    assert [a.number for a in report.actions] == [1, 2, 3, 4]
    fill_a = report.actions[0]
    assert (fill_a.shelf_from_top, fill_a.positions_from_left) == (1, [3])
    assert fill_a.facing_ids == ["s1-p3"]
    move = report.actions[2]
    assert sorted(move.facing_ids) == ["s2-p2", "s2-p4"]
    # Product codes never appear in what people read.
    for action in report.actions:
        assert "CER-" not in action.text and " A " not in action.text


def test_a_gap_next_to_an_extra_facing_is_one_move() -> None:
    plan = planogram(["AABBB"])
    detections = photo(["A.BBBA"])  # A's 2nd facing empty, an A standing at the right end
    report = match_planogram(plan, detections)
    conclude(report, detections, plan)
    kinds = [a.kind for a in report.actions]
    assert kinds == [ActionKind.MOVE], [a.text for a in report.actions]
    assert report.actions[0].product_name == NAMES["A"]
    assert report.actions[0].detection_ids  # the extra facing's box: its evidence crop


def test_identical_problems_on_a_shelf_are_one_action_with_a_range() -> None:
    plan = planogram(["AAAAB", "CCCDE"])
    detections = photo(["A..AB", "CCCDE"])
    report = match_planogram(plan, detections)
    conclude(report, detections, plan)
    fills = [a for a in report.actions if a.kind is ActionKind.FILL]
    assert len(fills) == 1
    assert fills[0].count == 2 and fills[0].positions_from_left == [2, 3]
    assert fills[0].text.endswith("shelf 1 from the top, 2nd–3rd from the left")


def test_a_product_with_no_facing_left_comes_first_as_out_of_stock() -> None:
    plan = planogram(["AABBE", "CCDDE"])
    detections = photo(["AA..E", "CC.DE"])  # B gone from the bay; one D missing
    report = match_planogram(plan, detections)
    conclude(report, detections, plan)
    first = report.actions[0]
    assert first.kind is ActionKind.FILL and first.product_id == "B" and first.out_of_stock
    assert first.priority < report.actions[1].priority
    assert "out of stock" in first.text


def test_facings_outside_the_photo_are_said_as_what_to_photograph() -> None:
    plan = planogram(["AABBE", "CCDDE"])
    # The photo ends after the 3rd facing: the right two of each shelf are not in it.
    detections = photo(["AAB", "CCD"], width=int(OFFSET + SCALE * 30))
    report = match_planogram(plan, detections)
    conclude(report, detections, plan)
    photographs = [a for a in report.actions if a.kind is ActionKind.PHOTOGRAPH]
    texts = sorted(a.text for a in photographs)
    assert texts == [
        "Photograph the right 2 facings of the bottom shelf: not in the photo",
        "Photograph the right 2 facings of the top shelf: not in the photo",
    ], [a.text for a in report.actions]
    assert all(a.priority == max(b.priority for b in report.actions) for a in photographs)


def test_shelves_count_from_the_top_and_positions_from_the_left() -> None:
    plan = planogram(["ABCDE", "EDCBA"])
    layout = ShelfLayout.of(plan)
    assert layout.place_of_facing["s1-p1"] == (1, 1)
    assert layout.place_of_facing["s2-p5"] == (2, 5)
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd",
    ]  # fmt: skip
    assert positions_text([4, 3]) == "3rd–4th from the left"
    assert positions_text([2, 5, 6]) == "2nd and 5th–6th from the left"


def test_an_inconclusive_report_lists_no_actions_and_says_so() -> None:
    plan = planogram(PLANNED)
    detections = photo(["....", "...."])  # nothing on the shelves: no shelf found
    report = match_planogram(plan, detections)
    verdict = conclude(report, detections, plan)
    assert not verdict.conclusive and report.actions == []
    text = render_report_text(report)
    assert text.splitlines()[1].startswith("INCONCLUSIVE: ")
    assert "Fill" not in text and "Actions" not in text


def test_report_text_is_at_most_100_columns_with_actions_first(example) -> None:
    _, report = example
    long = report.model_copy(deep=True)
    for facing in long.facings:
        facing.reason = facing.reason + " " + "very long reason " * 20
    text = render_report_text(long, all_facings=True)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    lines = text.splitlines()
    assert lines.index("Actions (4):") < lines.index("Scores:")
    scores = lines[lines.index("Scores:") + 1 : lines.index("Scores:") + 4]
    assert scores[0].startswith("  On-shelf availability  70.0%  of the 10 planned spots")
    assert "box (x,y,w,h)" not in text


def test_build_actions_is_stable_for_the_same_report(example) -> None:
    plan, report = example
    assert build_actions(report, plan) == build_actions(report, plan)
