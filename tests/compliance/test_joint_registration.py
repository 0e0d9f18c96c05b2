"""The photos of one scan registered jointly (``merge.register_in_order``): photos are taken
left to right, so of the stretches of a bay of repeated products that a partial photo fits
equally well, the one its place in the order allows is taken."""

from __future__ import annotations

from shelfscan.compliance.actions import conclude
from shelfscan.compliance.engine import MatchOptions, match_planogram
from shelfscan.compliance.merge import (
    ASPECT_TOLERANCE,
    PHOTO_OF_SEVERAL,
    PhotoReport,
    left_edge_units,
    merge_reports,
    register_in_order,
)
from shelfscan.compliance.report import ComplianceReport, FacingStatus
from shelfscan.demo import demo_planograms
from shelfscan.detection.replay import detections_from_document
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram
from tests.compliance.helpers import DATA, load_json, make_planogram, shoot
from tests.compliance.test_merge import crop, long_bay, statuses

# shoot()'s camera: 40 px per unit, the planogram's x = 0 at 120 px.
SCALE_X, OFFSET_X = 40.0, 120.0
THIRDS = [(0.0, 0.36), (0.32, 0.68), (0.64, 1.0)]


def repeating_bay() -> Planogram:
    """Three shelves, each one block of four products three times over: a photo of a third of
    the bay fits each third equally well."""
    return make_planogram([list("ABCD") * 3, list("EFGH") * 3, list("IJKL") * 3])


def true_left_edge(detections: Detections, share: float) -> float:
    return (share * detections.image_width - OFFSET_X) / SCALE_X


def matched(planogram: Planogram, detections: Detections, index: int, **options) -> PhotoReport:
    report = match_planogram(planogram, detections, options=MatchOptions(**options))
    conclude(report, detections, planogram, thresholds=PHOTO_OF_SEVERAL)
    return PhotoReport(index, report)


class Rematcher:
    """What the worker does: match a photo's detections again, with its left edge's prior."""

    def __init__(self, planogram: Planogram, crops: list[Detections]) -> None:
        self.planogram, self.crops, self.calls = planogram, crops, 0

    def __call__(
        self,
        photo: PhotoReport,
        left_edge: tuple[float, float],
        aspect: tuple[float, float] | None = None,
    ) -> PhotoReport:
        self.calls += 1
        return matched(
            self.planogram,
            self.crops[photo.index],
            photo.index,
            left_edge_units=left_edge,
            aspect_range=aspect,
        )


def thirds(planogram: Planogram, detections: Detections, cuts=THIRDS):
    width = detections.image_width
    crops = [crop(detections, a * width, b * width) for a, b in cuts]
    return crops, [matched(planogram, c, i) for i, c in enumerate(crops)]


def test_the_left_edge_prior_picks_the_stretch_among_equally_good_ones():
    planogram = repeating_bay()
    detections = shoot(planogram)
    crops, photos = thirds(planogram, detections)
    truth = true_left_edge(detections, THIRDS[0][0])
    facing_w = 5.0
    own = left_edge_units(photos[0].report)
    assert own is not None
    # On its own, the left third fits another third of the bay (the premise of this test).
    assert abs(own - truth) > 2 * facing_w
    hinted = matched(planogram, crops[0], 0, left_edge_units=(truth - facing_w, truth + facing_w))
    edge = left_edge_units(hinted.report)
    assert edge is not None and abs(edge - truth) < 0.5
    assert hinted.report.registration.label_inliers == photos[0].report.registration.label_inliers


def test_no_prior_and_an_impossible_prior_change_nothing():
    planogram = long_bay()
    detections = crop(shoot(planogram, remove={"S1-02"}), 0, 1500)
    plain = match_planogram(planogram, detections).model_dump(mode="json")
    for options in (MatchOptions(left_edge_units=None), MatchOptions(left_edge_units=(500, 600))):
        again = match_planogram(planogram, detections, options=options).model_dump(mode="json")
        for key in ("registration", "facings", "counts", "unexpected"):
            assert again[key] == plain[key], (options, key)


def test_ordered_registration_places_each_third_of_a_repeating_bay():
    planogram = repeating_bay()
    detections = shoot(planogram, remove={"S1-06", "S3-11"})
    whole = statuses(match_planogram(planogram, detections))
    crops, photos = thirds(planogram, detections)
    truths = [true_left_edge(detections, a) for a, _ in THIRDS]

    unordered = merge_reports(planogram, photos)
    ordered_photos = register_in_order(planogram, photos, Rematcher(planogram, crops))
    ordered = merge_reports(planogram, ordered_photos)

    # One by one, the thirds pile onto one stretch: most of the bay is "not visible".
    own_edges = [left_edge_units(p.report) for p in photos]
    assert sum(abs(e - t) < 0.5 for e, t in zip(own_edges, truths, strict=True)) < 3
    assert unordered.counts.not_visible > 0
    # In order, each third lands on its own stretch and the merged report is the whole one.
    edges = [left_edge_units(p.report) for p in ordered_photos]
    assert all(abs(e - t) < 0.5 for e, t in zip(edges, truths, strict=True)), edges
    assert [p.index for p in ordered_photos] == [0, 1, 2]
    assert statuses(ordered) == whole
    assert ordered.counts.not_visible == 0
    assert statuses(ordered)["S1-06"] is FacingStatus.GAP
    assert all(p.used for p in ordered.photos)


def test_photos_in_order_keep_their_own_placement():
    planogram = long_bay()
    detections = shoot(planogram, remove={"S2-03"})
    crops, photos = thirds(planogram, detections)
    rematch = Rematcher(planogram, crops)
    placed = register_in_order(planogram, photos, rematch)
    # Looked around (a better fit nearby would be taken), but nothing fits better.
    assert rematch.calls > 0
    assert placed == photos


def test_a_photo_truly_taken_out_of_order_keeps_its_own_placement():
    # "The left end was cut off": a further photo of the left end comes last. Its products
    # are nowhere else on the bay, so no placement the order allows fits it as well.
    planogram = long_bay()
    detections = shoot(planogram, remove={"S1-09"})
    whole = statuses(match_planogram(planogram, detections))
    crops, photos = thirds(planogram, detections, [(0.32, 0.68), (0.64, 1.0), (0.0, 0.36)])
    rematch = Rematcher(planogram, crops)
    placed = register_in_order(planogram, photos, rematch)
    assert rematch.calls > 0  # the order was broken, so it was looked into
    for own, kept in zip(photos, placed, strict=True):
        assert left_edge_units(kept.report) == left_edge_units(own.report)
    assert statuses(merge_reports(planogram, placed)) == whole


def test_fewer_than_two_placeable_photos_pass_through():
    planogram = repeating_bay()
    crops, photos = thirds(planogram, shoot(planogram))
    rematch = Rematcher(planogram, crops)
    assert register_in_order(planogram, photos[:1], rematch) == photos[:1]
    assert rematch.calls == 0


def aspect(report: ComplianceReport) -> float:
    return report.registration.scale_x / report.registration.scale_y


class AspectCalls(Rematcher):
    """A ``Rematcher`` that keeps the ``scale_x / scale_y`` range of each call that had one."""

    def __init__(self, planogram: Planogram, crops: list[Detections]) -> None:
        super().__init__(planogram, crops)
        self.aspects: list[tuple[int, tuple[float, float]]] = []

    def __call__(self, photo, left_edge, aspect=None):  # type: ignore[no-untyped-def]
        if aspect is not None:
            self.aspects.append((photo.index, aspect))
        return super().__call__(photo, left_edge, aspect)


def test_a_photo_whose_horizontal_scale_is_off_the_scans_is_registered_with_the_scans():
    """The demo model's boxes on the cereal photo, cut in two with a strip between: the left
    part shows a few facings per shelf and registers 19 % short horizontally, drawing the
    third shelf's facing that the frame cuts in half almost whole and empty (a gap no photo
    saw). Registered with the right part's proportions, it is cut, and not judged."""
    planogram = demo_planograms()["cereal"]
    detections = detections_from_document(
        load_json(DATA / "cereal_photo_demo_model_detections.json")
    )
    whole = match_planogram(planogram, detections)
    cut_in_half = "cereal-s3-p2:0:0"
    place = next(f.expected_box for f in whole.facings if f.facing_id == cut_in_half)
    crops = [crop(detections, 0, 435), crop(detections, 481, detections.image_width)]
    assert (435 - place.x) / place.w < 0.5  # the left part shows less than half of it
    photos = [matched(planogram, c, i) for i, c in enumerate(crops)]
    own = statuses(photos[0].report)
    assert own[cut_in_half] is FacingStatus.GAP  # the premise: drawn inside, and empty
    assert aspect(photos[0].report) < aspect(photos[1].report) / ASPECT_TOLERANCE

    rematch = AspectCalls(planogram, crops)
    placed = register_in_order(planogram, photos, rematch)

    assert [index for index, _ in rematch.aspects] == [0]
    low, high = rematch.aspects[0][1]
    assert low < aspect(photos[1].report) < high
    assert low <= aspect(placed[0].report) <= high
    assert placed[1] is photos[1]
    merged = statuses(merge_reports(planogram, placed))
    assert merged[cut_in_half] is FacingStatus.NOT_VISIBLE
    # The facings the left part shows whole are judged as the one photo of the bay judges them.
    one_photo = statuses(whole)
    shown = [
        f.facing_id
        for f in whole.facings
        if f.expected_box.x >= 0 and f.expected_box.x + f.expected_box.w <= 435
    ]
    assert shown and all(merged[f] == one_photo[f] for f in shown)


def test_a_photo_truly_of_other_proportions_keeps_its_own_registration():
    """A photo taken at a slant is narrower than the scan's other photo: fitted to that one's
    proportions it explains fewer boxes, so it keeps its own registration."""
    planogram = long_bay()
    detections = shoot(planogram)
    left = crop(detections, 0, 0.55 * detections.image_width)
    slanted = shoot(planogram, scale=(28.0, 34.0))  # 30 % narrower than the first camera
    right = crop(slanted, 0.45 * slanted.image_width, slanted.image_width)
    photos = [matched(planogram, c, i) for i, c in enumerate([left, right])]
    assert abs(aspect(photos[1].report) / aspect(photos[0].report) - 28 / 40) < 0.01
    rematch = AspectCalls(planogram, [left, right])
    placed = register_in_order(planogram, photos, rematch)
    assert [index for index, _ in rematch.aspects] == [1]  # tried with the scan's proportions
    assert placed[1] is photos[1]
