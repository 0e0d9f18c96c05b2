"""Several photos of one bay merged into one report (``shelfscan.compliance.merge``), with
synthetic detections: one photo of the whole bay is cut into overlapping or separate crops."""

from __future__ import annotations

import numpy as np
import pytest

from shelfscan.compliance.actions import conclude
from shelfscan.compliance.engine import match_planogram, recount
from shelfscan.compliance.merge import (
    CUT_BY_FRAME,
    FULLY_IN_VIEW,
    PHOTO_OF_SEVERAL,
    PhotoReport,
    _claim_cut_off_evidence,
    _gaps_beyond_the_frame,
    merge_reports,
    view_rank,
)
from shelfscan.compliance.report import (
    ComplianceReport,
    EvidenceSource,
    FacingStatus,
    UnexpectedKind,
)
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram
from tests.compliance.helpers import make_planogram, shoot

SHELF = list("ABCDEFGHIJKL")


def long_bay() -> Planogram:
    """Three shelves of twelve different products: long enough to photograph in parts."""
    return make_planogram([SHELF, SHELF[::-1], SHELF[3:] + SHELF[:3]])


def crop(detections: Detections, x1: float, x2: float, *, keep_cut: float = 0.5) -> Detections:
    """The detections a photo of pixels ``x1..x2`` (full height) would have: boxes at least
    ``keep_cut`` inside, clipped and shifted to the crop's frame."""
    xyxy = detections.xyxy
    inside = np.clip(xyxy[:, [0, 2]], x1, x2)
    share = (inside[:, 1] - inside[:, 0]) / np.maximum(xyxy[:, 2] - xyxy[:, 0], 1e-9)
    keep = np.flatnonzero(share >= keep_cut)
    boxes = xyxy[keep].copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], x1, x2) - x1
    return Detections.build(
        boxes,
        [str(detections.labels[i]) for i in keep],
        detections.confidence[keep].tolist(),
        image_width=int(x2 - x1),
        image_height=detections.image_height,
        is_gap=detections.is_gap[keep].tolist(),
        ids=[str(detections.ids[i]) for i in keep],
    )


def analyse(planogram: Planogram, detections: Detections, index: int) -> PhotoReport:
    report = match_planogram(planogram, detections)
    conclude(report, detections, planogram, thresholds=PHOTO_OF_SEVERAL)
    return PhotoReport(index=index, report=report)


def split(planogram: Planogram, detections: Detections, cuts: list[tuple[float, float]]):
    width = detections.image_width
    return [
        analyse(planogram, crop(detections, a * width, b * width), i)
        for i, (a, b) in enumerate(cuts)
    ]


def statuses(report: ComplianceReport) -> dict[str, FacingStatus]:
    return {f.facing_id: f.status for f in report.facings}


def test_recount_reproduces_the_engines_scores():
    planogram = long_bay()
    detections = shoot(
        planogram, remove={"S1-02", "S2-05"}, replace={"S3-01": "Product A"}, extra=[]
    )
    report = match_planogram(planogram, detections)
    before = report.model_dump(mode="json")
    recount(planogram, report)
    after = report.model_dump(mode="json")
    for key in ("counts", "scores", "fixtures", "products"):
        assert after[key] == before[key], key


def test_two_overlapping_halves_agree_with_the_whole_photo():
    planogram = long_bay()
    detections = shoot(
        planogram,
        remove={"S1-02", "S2-11", "S3-06"},
        replace={"S1-09": "Product A", "S3-03": "Product L"},
    )
    whole = match_planogram(planogram, detections)
    photos = split(planogram, detections, [(0.0, 0.6), (0.4, 1.0)])
    merged = merge_reports(planogram, photos)

    assert statuses(merged) == statuses(whole)
    assert merged.counts.not_visible == 0
    assert merged.counts.unexpected == whole.counts.unexpected == 0
    assert merged.scores == whole.scores
    assert merged.trust is not None and merged.trust.conclusive
    assert [p.index for p in merged.photos] == [0, 1]
    assert all(p.used for p in merged.photos)
    assert sum(p.facings_chosen for p in merged.photos) == len(merged.facings)
    # Each photo covers the facings of its half, in planogram units.
    left, right = merged.photos[0].view, merged.photos[1].view
    assert left is not None and right is not None
    assert left.x < right.x and left.x + left.w > right.x  # they overlap
    # Every verdict names its photo, and its boxes are in that photo's pixels.
    for facing in merged.facings:
        photo = facing.evidence.photo
        assert photo in (0, 1)
        width = photos[photo].report.image.width
        box = facing.expected_box
        assert box.x >= -1 and box.x + box.w <= width + 1
    # Actions are built on the merged verdicts: a fill for each gap, none to photograph.
    kinds = [a.kind.value for a in merged.actions]
    assert "photograph" not in kinds
    filled = {f for a in merged.actions if a.kind.value == "fill" for f in a.facing_ids}
    assert {"S1-02", "S2-11", "S3-06"} <= filled | {
        f for a in merged.actions if a.kind.value == "move" for f in a.facing_ids
    }


def test_the_best_view_decides_and_a_disagreement_is_reported():
    planogram = long_bay()
    full = shoot(planogram)
    misplaced = shoot(planogram, replace={"S1-07": "Product B"})
    width = full.image_width
    # Photo 0 sees S1-07 at its edge holding its planned product; photo 1 sees it near its
    # centre holding another product. The central, fully visible view wins.
    left = analyse(planogram, crop(full, 0, 0.62 * width), 0)
    right = analyse(planogram, crop(misplaced, 0.3 * width, width), 1)
    edge = left.report.facing("S1-07")
    assert edge.status is FacingStatus.OK
    assert right.report.facing("S1-07").status is FacingStatus.MISPLACED
    merged = merge_reports(planogram, [left, right])
    facing = merged.facing("S1-07")
    assert facing.status is FacingStatus.MISPLACED
    assert facing.evidence.photo == 1
    assert "photos disagree" in facing.reason and "photo 1: ok" in facing.reason
    assert "photo 2 sees it best" in facing.reason


def _cut(photo: PhotoReport, facing_id: str, share: float, **update: object) -> PhotoReport:
    report = photo.report
    facings = [
        f.model_copy(update={"visible_fraction": share, **update})
        if f.facing_id == facing_id
        else f
        for f in report.facings
    ]
    return PhotoReport(photo.index, report.model_copy(update={"facings": facings}))


def test_between_two_photos_that_cut_a_facing_the_one_that_sees_a_product_decides():
    planogram = long_bay()
    full = shoot(planogram)
    width = full.image_width
    # Both photos cut S1-07 a little. Photo 1 draws more of it in view, but its detector
    # missed the cut-off pack there (no box: a gap); photo 0 sees the pack.
    left = _cut(analyse(planogram, crop(full, 0, 0.62 * width), 0), "S1-07", 0.85)
    right = _cut(
        analyse(planogram, crop(full, 0.3 * width, width), 1),
        "S1-07",
        0.95,
        status=FacingStatus.GAP,
        found_product_id=None,
        found_label=None,
    )
    seen, empty = left.report.facing("S1-07"), right.report.facing("S1-07")
    assert seen.status is FacingStatus.OK
    assert view_rank(empty, right.report) > view_rank(seen, left.report)  # the better share

    facing = merge_reports(planogram, [left, right]).facing("S1-07")

    assert facing.status is FacingStatus.OK
    assert facing.evidence.photo == 0
    assert "photos disagree" in facing.reason and "photo 2: gap" in facing.reason

    # A photo that shows the facing whole still decides, product seen or not.
    whole_empty = _cut(right, "S1-07", 1.0)
    assert merge_reports(planogram, [left, whole_empty]).facing("S1-07").status is (
        FacingStatus.GAP
    )


def test_unexpected_product_in_the_overlap_is_counted_once():
    # Shelf 2 is planned with six facings (x = 1..31); in the room after them, in the middle
    # of the bay, stands a product the planogram does not know.
    planogram = make_planogram([SHELF, SHELF[:6], SHELF[3:] + SHELF[:3]])
    detections = shoot(planogram, extra=[("Mystery Snack", 32.0, "S2")])
    whole = match_planogram(planogram, detections)
    assert whole.counts.unexpected == 1
    photos = split(planogram, detections, [(0.0, 0.65), (0.35, 1.0)])
    assert all(p.report.counts.unexpected == 1 for p in photos)  # both photos see it
    merged = merge_reports(planogram, photos)
    assert merged.counts.unexpected == 1
    item = merged.unexpected[0]
    assert item.kind is UnexpectedKind.NOT_IN_PLANOGRAM
    assert item.photo in (0, 1)
    assert item.detection_id.startswith(f"p{item.photo}.")
    assert merged.scores == whole.scores


def test_uncovered_facings_are_not_visible_and_never_gaps():
    planogram = long_bay()
    detections = shoot(planogram)
    # Two photos with a strip of the bay between them in neither.
    photos = split(planogram, detections, [(0.0, 0.45), (0.55, 1.0)])
    merged = merge_reports(planogram, photos)
    hidden = set(merged.ids_with_status(FacingStatus.NOT_VISIBLE))
    assert hidden, "the strip between the photos holds facings"
    assert merged.counts.gap == 0
    for facing_id in hidden:
        assert all(p.report.facing(facing_id).status is FacingStatus.NOT_VISIBLE for p in photos)
    # Every facing some photo judged keeps a verdict.
    judged = {
        f.facing_id
        for p in photos
        for f in p.report.facings
        if f.status is not FacingStatus.NOT_VISIBLE
    }
    assert judged == {f.facing_id for f in merged.facings} - hidden
    photograph = [a for a in merged.actions if a.kind.value == "photograph"]
    assert {f for a in photograph for f in a.facing_ids} == hidden


def test_a_refused_photo_is_left_out_and_listed():
    planogram = long_bay()
    detections = shoot(planogram)
    good = split(planogram, detections, [(0.0, 1.0)])[0]
    # A photo of another bay: nothing it shows is this planogram's.
    other = make_planogram([list("UVWXYZ"), list("ZYXWVU")])
    stray = shoot(other)
    bad_report = match_planogram(planogram, stray)
    conclude(bad_report, stray, planogram, thresholds=PHOTO_OF_SEVERAL)
    assert bad_report.trust is not None and not bad_report.trust.conclusive
    bad = PhotoReport(index=1, report=bad_report)
    merged = merge_reports(planogram, [good, bad])
    assert merged.trust is not None and merged.trust.conclusive
    assert statuses(merged) == statuses(good.report)
    assert [p.used for p in merged.photos] == [True, False]
    assert merged.photos[1].left_out_reason == bad_report.trust.reason
    assert merged.photos[1].instruction
    assert all(f.evidence.photo == 0 for f in merged.facings)


def test_photos_that_together_show_too_little_are_inconclusive():
    planogram = long_bay()
    detections = shoot(planogram)
    photos = split(planogram, detections, [(0.0, 0.2), (0.8, 1.0)])
    merged = merge_reports(planogram, photos)
    assert merged.trust is not None and not merged.trust.conclusive
    assert merged.trust.reason == "too_little_in_view"
    assert merged.actions == []


def test_one_photo_keeps_its_report():
    planogram = long_bay()
    detections = shoot(planogram, remove={"S1-04"})
    only = split(planogram, detections, [(0.0, 1.0)])
    merged = merge_reports(planogram, only)
    assert statuses(merged) == statuses(only[0].report)
    assert merged.facing("S1-04").evidence.detection_id is None
    assert [f.evidence.detection_id for f in merged.facings] == [
        f.evidence.detection_id for f in only[0].report.facings
    ]
    assert len(merged.photos) == 1


def test_merged_report_validates_and_round_trips():
    planogram = long_bay()
    detections = shoot(planogram, remove={"S2-03"}, extra=[("Mystery Snack", 20.0, "S1")])
    merged = merge_reports(planogram, split(planogram, detections, [(0, 0.6), (0.4, 1)]))
    dumped = merged.model_dump(mode="json")
    assert ComplianceReport.model_validate(dumped).model_dump(mode="json") == dumped


def test_bad_input_is_named():
    planogram = long_bay()
    photos = split(planogram, shoot(planogram), [(0, 1)])
    with pytest.raises(ValueError, match="no photo reports"):
        merge_reports(planogram, [])
    with pytest.raises(ValueError, match="distinct"):
        merge_reports(planogram, [photos[0], photos[0]])
    other = make_planogram([["A", "B"]])
    other = other.model_copy(update={"id": "other"})
    with pytest.raises(ValueError, match="planogram 'test', not 'other'"):
        merge_reports(other, photos)


def test_a_photo_contradicting_a_better_registered_one_is_left_out():
    planogram = long_bay()
    photos = split(planogram, shoot(planogram), [(0.0, 0.6), (0.4, 1.0)])
    # Photo 1 as if registered onto the wrong stretch of the bay: its verdicts contradict
    # photo 0's wherever both judge, and its registration explains fewer of its boxes.
    wrong = photos[1].report.model_copy(deep=True)
    judged_by_left = {
        f.facing_id for f in photos[0].report.facings if f.status is not FacingStatus.NOT_VISIBLE
    }
    for facing in wrong.facings:
        if facing.facing_id in judged_by_left and facing.status is FacingStatus.OK:
            facing.status = FacingStatus.MISPLACED
    wrong.registration.label_inliers = wrong.registration.labelled_detections // 2
    merged = merge_reports(planogram, [photos[0], PhotoReport(1, wrong)])
    assert [p.used for p in merged.photos] == [True, False]
    assert merged.photos[1].left_out_reason == "conflicts_with_other_photos"
    assert merged.counts.misplaced == 0
    assert all(
        f.evidence.photo == 0 for f in merged.facings if f.status is not FacingStatus.NOT_VISIBLE
    )


def _lend_boxes_to_the_cut_facing(photo: PhotoReport) -> PhotoReport:
    """The chain an alignment makes when the frame cuts S1-07 and drops its box: S1-07 holds
    S1-06's box, S1-06 holds S1-05's, and S1-05 is left looking empty."""
    report = photo.report
    d, e, f = (report.facing(i) for i in ("S1-05", "S1-06", "S1-07"))
    lent = {
        "S1-05": d.model_copy(
            update={
                "status": FacingStatus.GAP,
                "evidence": d.evidence.model_copy(
                    update={"source": EvidenceSource.INFERRED, "detection_id": None, "label": None}
                ),
                "found_product_id": None,
                "found_label": None,
                "shift_facings": None,
            }
        ),
        "S1-06": e.model_copy(
            update={"evidence": d.evidence, "found_label": d.evidence.label, "shift_facings": -1.0}
        ),
        "S1-07": f.model_copy(
            update={
                "status": FacingStatus.OK,
                "evidence": e.evidence,
                "found_product_id": f.product_id,
                "found_label": e.evidence.label,
                "shift_facings": -1.0,
            }
        ),
    }
    facings = [lent.get(facing.facing_id, facing) for facing in report.facings]
    return PhotoReport(photo.index, report.model_copy(update={"facings": facings}))


def test_boxes_lent_to_a_facing_cut_by_the_frame_go_back_to_where_they_stand():
    planogram = long_bay()
    detections = shoot(planogram, replace={"S1-05": "Product A"})
    width = detections.image_width
    left = analyse(planogram, crop(detections, 0, 0.535 * width), 0)
    right = analyse(planogram, crop(detections, 0.3 * width, width), 1)
    assert left.report.facing("S1-07").visible_fraction < CUT_BY_FRAME
    assert left.report.facing("S1-05").status is FacingStatus.MISPLACED
    chained = _lend_boxes_to_the_cut_facing(left)

    fixed = _claim_cut_off_evidence(chained, planogram).report
    assert fixed.facing("S1-05").status is FacingStatus.MISPLACED  # Product A in S1-05's place
    assert fixed.facing("S1-05").found_product_id == "A"
    assert fixed.facing("S1-06").status is FacingStatus.OK
    assert fixed.facing("S1-06").evidence == left.report.facing("S1-06").evidence
    assert fixed.facing("S1-07").status is FacingStatus.NOT_VISIBLE
    assert "cut by the photo's frame" in fixed.facing("S1-05").reason

    merged = merge_reports(planogram, [chained, right])
    assert merged.facing("S1-05").status is FacingStatus.MISPLACED
    assert merged.facing("S1-06").status is FacingStatus.OK
    assert merged.facing("S1-07").status is FacingStatus.OK
    assert merged.facing("S1-07").evidence.photo == 1


def test_a_chain_that_does_not_end_in_an_empty_facing_stays():
    planogram = long_bay()
    detections = shoot(planogram)
    width = detections.image_width
    left = analyse(planogram, crop(detections, 0, 0.535 * width), 0)
    chained = _lend_boxes_to_the_cut_facing(left)
    # S1-05 holds a box of its own: the alignment's shifts stand.
    report = chained.report
    held = [
        f.model_copy(
            update={"status": FacingStatus.OK, "evidence": left.report.facing("S1-05").evidence}
        )
        if f.facing_id == "S1-05"
        else f
        for f in report.facings
    ]
    kept = PhotoReport(0, report.model_copy(update={"facings": held}))
    assert _claim_cut_off_evidence(kept, planogram) is kept
    # A box whose label names no planogram product is not re-seated either.
    unnamed = [
        f.model_copy(update={"evidence": f.evidence.model_copy(update={"label": "something"})})
        if f.facing_id == "S1-07"
        else f
        for f in report.facings
    ]
    odd = PhotoReport(0, report.model_copy(update={"facings": unnamed}))
    assert _claim_cut_off_evidence(odd, planogram) is odd


def test_disagreeing_only_where_a_frame_cuts_the_facing_is_no_conflict():
    planogram = long_bay()
    # Photo 1's left edge cuts a facing of each shelf: 85 % of it in view, judged.
    photos = split(planogram, shoot(planogram), [(0.0, 0.6), (0.364, 1.0)])
    # Photo 1 calls every facing its left edge cuts empty (the detector dropped the cut
    # products): facings photo 0 shows whole, where the two disagree.
    edge = photos[1].report.model_copy(deep=True)
    cut = [
        f
        for f in edge.facings
        if f.status is FacingStatus.OK and f.visible_fraction < FULLY_IN_VIEW
    ]
    assert len(cut) >= 2
    for facing in cut:
        facing.status = FacingStatus.GAP
    shared = [
        f.facing_id
        for f, g in zip(photos[0].report.facings, edge.facings, strict=True)
        if FacingStatus.NOT_VISIBLE not in (f.status, g.status)
    ]
    assert sum(edge.facing(f).status is FacingStatus.GAP for f in shared) >= 0.3 * len(shared)
    merged = merge_reports(planogram, [photos[0], PhotoReport(1, edge)])
    assert [p.used for p in merged.photos] == [True, True]
    assert merged.counts.gap == 0
    for facing in cut:
        assert merged.facing(facing.facing_id).evidence.photo == 0


def _shelf_drawn_a_facing_off(photo: PhotoReport, shift: float, empty: str) -> PhotoReport:
    """What a registration one facing off along shelf S1 makes of the photo: every box of S1
    stands ``shift`` facings from its facing's place, and ``empty``, whose box went to its
    neighbour, is judged a gap."""
    report = photo.report
    facings = []
    for facing in report.facings:
        if facing.fixture_id == report.facing(empty).fixture_id:
            if facing.facing_id == empty:
                facing = facing.model_copy(
                    update={
                        "status": FacingStatus.GAP,
                        "evidence": facing.evidence.model_copy(
                            update={"source": EvidenceSource.INFERRED, "detection_id": None}
                        ),
                        "found_product_id": None,
                        "shift_facings": None,
                    }
                )
            elif facing.evidence.source is EvidenceSource.DETECTION:
                facing = facing.model_copy(update={"shift_facings": shift})
        facings.append(facing)
    return PhotoReport(photo.index, report.model_copy(update={"facings": facings}))


def test_a_gap_a_shelf_registered_a_facing_off_puts_at_the_frame_is_not_judged():
    planogram = long_bay()
    detections = shoot(planogram)
    width = detections.image_width
    left = analyse(planogram, crop(detections, 0, 0.535 * width), 0)
    right = analyse(planogram, crop(detections, 0.45 * width, width), 1)
    edge = left.report.facing("S1-06")
    assert edge.visible_fraction >= FULLY_IN_VIEW  # whole in view by the registration
    off = _shelf_drawn_a_facing_off(left, 1.0, "S1-06")

    fixed = _gaps_beyond_the_frame(off).report
    assert fixed.facing("S1-06").status is FacingStatus.NOT_VISIBLE
    assert "1.0 facings right" in fixed.facing("S1-06").reason
    assert fixed.facing("S1-06").evidence.source is EvidenceSource.OUTSIDE_PHOTO
    unchanged = {f.facing_id for f in fixed.facings if f.facing_id != "S1-06"}
    assert all(fixed.facing(i) == off.report.facing(i) for i in unchanged)
    # the other photo sees S1-06 whole and judges it
    merged = merge_reports(planogram, [off, right])
    assert merged.facing("S1-06").status is FacingStatus.OK
    assert merged.facing("S1-06").evidence.photo == 1

    # A shelf registered right keeps a gap at the frame's edge; boxes standing left of their
    # places move the empty facing away from the right edge, into view: it stays a gap.
    for shift in (0.1, -1.0):
        kept = _shelf_drawn_a_facing_off(left, shift, "S1-06")
        assert _gaps_beyond_the_frame(kept) is kept


def test_two_facings_judged_differently_are_settled_not_a_conflict():
    planogram = long_bay()
    photos = split(planogram, shoot(planogram), [(0.0, 0.6), (0.4, 1.0)])
    left, right = photos[0].report, photos[1].report.model_copy(deep=True)
    shared = [
        f.facing_id
        for f, g in zip(left.facings, right.facings, strict=True)
        if min(f.visible_fraction, g.visible_fraction) >= FULLY_IN_VIEW
        and FacingStatus.NOT_VISIBLE not in (f.status, g.status)
    ]
    assert len(shared) >= 6
    for facing_id in shared[:2]:
        right.facing(facing_id).status = FacingStatus.GAP
    merged = merge_reports(planogram, [photos[0], PhotoReport(1, right)])
    assert [p.used for p in merged.photos] == [True, True]
    for facing_id in shared[:2]:
        assert "photos disagree" in merged.facing(facing_id).reason
    # a third one makes the photos contradict each other: the weaker fit is left out
    right.facing(shared[2]).status = FacingStatus.GAP
    right.registration.label_inliers = right.registration.labelled_detections // 2
    merged = merge_reports(planogram, [photos[0], PhotoReport(1, right)])
    assert [p.used for p in merged.photos] == [True, False]
