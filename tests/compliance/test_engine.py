"""Targeted compliance cases on hand-built shelves."""

from __future__ import annotations

import numpy as np
import pytest

from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import EvidenceSource, FacingStatus, UnexpectedKind
from shelfscan.detections import Detections
from shelfscan.planogram.errors import PlanogramError
from tests.compliance.helpers import make_planogram, shoot

SHELVES = [
    ["A", "A", "B", "B", "C", "C", "D"],
    ["E", "E", "E", "F", "F", "G", "G"],
    ["H", "H", "I", "I", "J", "J", "J"],
]


@pytest.fixture
def planogram():
    return make_planogram(SHELVES)


def statuses(report) -> dict[str, str]:
    return {f.facing_id: f.status.value for f in report.facings}


def test_compliant_shelf_is_all_ok(planogram):
    report = match_planogram(planogram, shoot(planogram))
    assert set(statuses(report).values()) == {"ok"}
    assert report.scores.position_compliance == 1.0
    assert report.unexpected == []


def test_removed_facing_is_a_gap_inferred_from_empty_space(planogram):
    report = match_planogram(planogram, shoot(planogram, remove={"S2-04"}))
    assert report.ids_with_status(FacingStatus.GAP) == ["S2-04"]
    assert report.facing("S2-04").evidence.source is EvidenceSource.INFERRED
    # The evidence box is where the product should be: S2-04 starts 16 units from x=0.
    assert report.facing("S2-04").evidence.box.x == pytest.approx(120 + 16 * 40, abs=25)


def test_gap_box_is_used_as_evidence(planogram):
    report = match_planogram(planogram, shoot(planogram, remove={"S1-03"}, gap_boxes=["S1-03"]))
    facing = report.facing("S1-03")
    assert facing.status is FacingStatus.GAP
    assert facing.evidence.source is EvidenceSource.GAP_DETECTION


def test_swapped_product_is_misplaced_and_named(planogram):
    report = match_planogram(planogram, shoot(planogram, replace={"S3-03": "Product E"}))
    facing = report.facing("S3-03")
    assert statuses(report)["S3-03"] == "misplaced"
    assert facing.found_product_id == "E"
    assert "Product E" in facing.reason
    assert sum(s == "misplaced" for s in statuses(report).values()) == 1


def test_product_outside_the_planogram_is_misplaced_with_its_label(planogram):
    report = match_planogram(planogram, shoot(planogram, replace={"S1-07": "Mystery Cola"}))
    facing = report.facing("S1-07")
    assert facing.status is FacingStatus.MISPLACED
    assert facing.found_product_id is None
    assert facing.found_label == "Mystery Cola"


def test_block_slid_into_a_gap_is_not_a_chain_of_misplacements(planogram):
    # S1-02 (an A) is gone and B B C C slid left by most of a facing to close the space.
    slid = {"S1-03": -4.0, "S1-04": -4.0, "S1-05": -4.0, "S1-06": -4.0}
    report = match_planogram(planogram, shoot(planogram, remove={"S1-02"}, shift=slid))
    assert report.ids_with_status(FacingStatus.GAP) == ["S1-02"]
    assert report.ids_with_status(FacingStatus.MISPLACED) == []
    assert report.facing("S1-04").shift_facings == pytest.approx(-0.8, abs=0.15)


def test_whole_shelf_drift_is_absorbed(planogram):
    drift = {f"S2-0{i}": 2.0 for i in range(1, 8)}  # 0.4 facing to the right
    report = match_planogram(planogram, shoot(planogram, shift=drift))
    assert set(statuses(report).values()) == {"ok"}


def test_repeated_products_resolve_offset_globally():
    # One shelf of identical facings is ambiguous by whole facings on its own; the other
    # shelves fix the camera. Its first two facings are empty: the gaps must be at the left.
    planogram = make_planogram([["K"] * 8, ["A", "B", "C", "D", "E", "F", "G", "H"]])
    report = match_planogram(planogram, shoot(planogram, remove={"S1-01", "S1-02"}))
    assert report.ids_with_status(FacingStatus.GAP) == ["S1-01", "S1-02"]


def test_rotated_photo(planogram):
    report = match_planogram(
        planogram, shoot(planogram, remove={"S3-05"}, angle_deg=2.5, offset=(300, 300))
    )
    assert report.ids_with_status(FacingStatus.GAP) == ["S3-05"]
    assert report.registration.rotation_deg == pytest.approx(2.5, abs=0.4)


def test_partial_view_marks_facings_outside_the_photo_not_visible(planogram):
    # The photo is cut 14 units into the bay: the first 2-3 facings of each shelf are out.
    detections = shoot(planogram, offset=(-560.0, 60.0), image=(1000, 1400))
    report = match_planogram(planogram, detections)
    status = statuses(report)
    assert status["S1-01"] == status["S2-01"] == status["S3-01"] == "not_visible"
    assert status["S1-07"] == status["S2-07"] == status["S3-07"] == "ok"
    assert report.counts.gap == 0 and report.counts.misplaced == 0
    assert report.facing("S1-01").evidence.source is EvidenceSource.OUTSIDE_PHOTO


def test_an_empty_facing_the_frame_cuts_a_little_is_still_a_gap(planogram):
    # The photo ends about 70 % into the last facings: the registration's estimate of a facing's
    # share in view is a few per cent off near the frame (a photo of part of a long bay shows a
    # facing whole and draws it 0.7 in view), so an empty facing that far in is judged a gap;
    # half cut off, it would be not visible (a detector misses products the frame cuts).
    image = (int(120 + 40 * (31 + 0.68 * 5)), 1400)
    report = match_planogram(planogram, shoot(planogram, remove={"S2-07"}, image=image))
    assert 0.7 <= report.facing("S2-07").visible_fraction < 0.75
    assert report.facing("S2-07").status is FacingStatus.GAP
    half = (int(120 + 40 * (31 + 0.55 * 5)), 1400)
    report = match_planogram(planogram, shoot(planogram, remove={"S2-07"}, image=half))
    assert report.facing("S2-07").status is FacingStatus.NOT_VISIBLE


def test_unexpected_products_extra_facing_and_unknown():
    # Shelf 1 is planned with five facings; the room after them (x = 26..36) holds an extra
    # D and a product the planogram does not know.
    planogram = make_planogram([["A", "A", "B", "C", "D"], SHELVES[1], SHELVES[2]])
    detections = shoot(planogram, extra=[("Product D", 26.2, "S1"), ("Alien Snack", 31.5, "S1")])
    report = match_planogram(planogram, detections)
    kinds = {u.label: u.kind for u in report.unexpected}
    assert kinds == {
        "Product D": UnexpectedKind.EXTRA_FACING,
        "Alien Snack": UnexpectedKind.NOT_IN_PLANOGRAM,
    }
    assert all(u.fixture_id == "S1" for u in report.unexpected)
    assert set(statuses(report).values()) == {"ok"}
    d = next(p for p in report.products if p.product_id == "D")
    assert (d.expected, d.found) == (1, 2)
    assert report.counts.unexpected == 2


def test_detections_beyond_the_bay_are_ignored(planogram):
    detections = shoot(planogram, extra=[("Product D", 60.0, "S1")], image=(3000, 1400))
    report = match_planogram(planogram, detections)
    assert report.unexpected == []
    assert len(report.ignored.outside_planogram) == 1


def test_labels_match_by_id_gtin_and_loose_name(planogram):
    label_of = {"A": "a", "B": "4000000000001", "C": "  product   c "}
    report = match_planogram(planogram, shoot(planogram, label_of=label_of))
    assert set(statuses(report).values()) == {"ok"}


def test_duplicate_boxes_are_ignored(planogram):
    base = shoot(planogram)
    twin = base.xyxy[3] + [2, 1, 2, 1]
    detections = Detections.build(
        np.vstack([base.xyxy, twin]),
        [*base.labels, base.labels[3]],
        [*base.confidence, 0.5],
        image_width=base.image_width,
        image_height=base.image_height,
        ids=[*base.ids, "twin"],
    )
    report = match_planogram(planogram, detections)
    assert report.ignored.duplicates == ["twin"]
    assert report.unexpected == []
    assert set(statuses(report).values()) == {"ok"}


def test_second_opinion_label_rescues_a_plausible_facing(planogram):
    base = shoot(planogram)
    i = list(base.ids).index("d2")  # S1-03, a B
    alternatives = [{str(label): 0.9} for label in base.labels]
    alternatives[i] = {"Product G": 0.55, "Product B": 0.5}
    labels = list(base.labels)
    labels[i] = "Product G"
    detections = Detections.build(
        base.xyxy,
        labels,
        base.confidence,
        image_width=base.image_width,
        image_height=base.image_height,
        ids=base.ids,
        alternatives=alternatives,
    )
    facing = match_planogram(planogram, detections).facing("S1-03")
    assert facing.status is FacingStatus.OK
    assert facing.evidence.label == "Product G"  # the top label stays the evidence
    assert "second opinion" in facing.reason
    # A weak alternative does not count.
    alternatives[i] = {"Product G": 0.9, "Product B": 0.05}
    detections.alternatives = alternatives
    assert match_planogram(planogram, detections).facing("S1-03").status is FacingStatus.MISPLACED


def test_generic_product_labels_register_by_layout(planogram):
    # Azure's pretrained model tags every box "product": presence only.
    report = match_planogram(
        planogram, shoot(planogram, remove={"S2-02"}, label_of={p: "product" for p in "ABCDEFGHIJ"})
    )
    assert report.ids_with_status(FacingStatus.GAP) == ["S2-02"]
    assert report.counts.misplaced == 0
    assert report.registration.method == "layout"


def test_no_detections_reports_every_facing_as_gap(planogram):
    report = match_planogram(planogram, Detections.empty(1000, 800))
    assert report.counts.gap == len(report.facings)
    assert report.registration.method == "image_extent"


def test_unknown_product_reference_is_a_located_error(planogram):
    broken = planogram.model_copy(
        update={
            "positions": [
                *planogram.positions[:-1],
                planogram.positions[-1].model_copy(update={"product_id": "ZZ"}),
            ]
        }
    )
    with pytest.raises(PlanogramError) as error:
        match_planogram(broken, shoot(planogram))
    assert (
        error.value.problems[0].location == f"positions[{len(planogram.positions) - 1}].productId"
    )


def test_a_product_past_the_bays_end_is_not_borrowed_to_fill_a_facing():
    # The last three facings hold C; the detector missed the middle one, and the next bay's
    # product stands past the end, two facings from the last one. Shifting the last C into
    # the empty facing and lending the end facing that far-away product is cheaper than a gap
    # plus an extra product, but past the bay's end there is room: no extra product there.
    planogram = make_planogram([["A", "A", "B", "B", "C", "C", "C"], SHELVES[1], SHELVES[2]])
    detections = shoot(
        planogram, remove={"S1-06"}, extra=[("Alien Snack", 41.0, "S1")], image=(3000, 1400)
    )
    report = match_planogram(planogram, detections)
    found = {f.facing_id: (f.status.value, f.found_label) for f in report.facings}
    assert found["S1-06"] == ("gap", None)
    assert found["S1-07"] == ("ok", "Product C")
    assert report.unexpected == []
    assert len(report.ignored.outside_planogram) == 1


def test_a_box_left_of_its_shelfs_first_facing_is_outside_the_bay():
    # A narrow product of the previous bay, wholly left of the shelf's first facing (which
    # starts at x = 1 unit) but its centre within half a facing of it: past the bay's left
    # end, not an unexpected product.
    planogram = make_planogram([["A", "A", "B", "B"], ["E", "E", "F", "F"]])
    planned = shoot(planogram, image=(3000, 1400))
    sx, sy, tx, ty = 40.0, 34.0, 120.0, 60.0  # shoot's default camera
    narrow = [tx + sx * -1.3, ty + sy * 4.0, tx + sx * 0.9, ty + sy * 12.0]
    detections = Detections.build(
        [*planned.xyxy.tolist(), narrow],
        [*planned.labels.tolist(), "Alien Snack"],
        [*planned.confidence.tolist(), 0.9],
        image_width=3000,
        image_height=1400,
    )
    report = match_planogram(planogram, detections)
    assert report.unexpected == []
    assert len(report.ignored.outside_planogram) == 1
    assert {f.status.value for f in report.facings} == {"ok"}
