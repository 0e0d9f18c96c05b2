"""One report from several photos of one bay, merged in planogram space.

A bay longer than a phone photo can hold is photographed in parts (halves, thirds, close-ups;
overlapping or not, from different distances and angles). No pixels are stitched: each photo
is detected and registered to the planogram on its own (the engine, once per photo), so the
planogram is the common frame, and the verdicts are merged per facing:

- a facing's verdict comes from the photo that sees it best: fully in view first, then nearest
  the photo's centre (less perspective and lens distortion, no cut-off neighbours), then the
  best registration fit (share of labelled boxes the registration explains);
- where photos disagree, the facing's reason says so and names the photo the verdict is from;
- ``not_visible`` only where no usable photo judged the facing;
- an unexpected product seen in two overlapping photos is one product: each photo speaks only
  for the part of the bay where it gives the verdicts (the facing nearest the product), and
  what is left is deduplicated by position in planogram units;
- a photo the trust check refused is left out and listed (``photos[i].used`` false), so one
  bad photo of three does not sink the scan.

Counts and scores are recomputed by the engine's score stage (``engine.recount``) and the
actions by ``actions.build_actions``, on the merged verdicts: the merged report has the shape
of a one-photo report plus the ``photos`` section, and its boxes name their photo.

Pure: reads reports and the planogram.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from shelfscan.compliance.actions import build_actions
from shelfscan.compliance.engine import MatchOptions, recount
from shelfscan.compliance.report import (
    REPORT_SCHEMA_VERSION,
    Box,
    ComplianceReport,
    DetectorLabels,
    Evidence,
    EvidenceSource,
    Extent,
    FacingResult,
    FacingStatus,
    IgnoredDetections,
    PhotoSummary,
    TrustSummary,
    UnexpectedProduct,
)
from shelfscan.compliance.trust import INSTRUCTIONS, TrustReason, TrustThresholds
from shelfscan.planogram.model import ExpectedFacing, Planogram

# One photo of several need not show most of the bay: the scan's photos together must
# (``min_in_view_fraction`` is checked on their union instead).
PHOTO_OF_SEVERAL = replace(TrustThresholds(), min_in_view_fraction=0.0)

# A facing at least this share in view counts as fully in view (boxes are rounded).
FULLY_IN_VIEW = 0.98
# Two unexpected products of the same kind on the same fixture closer than this share of a
# facing's width (in planogram units) are one product seen twice.
SAME_PRODUCT_DISTANCE = 0.6


@dataclass(frozen=True)
class PhotoReport:
    """One photo's own analysis: its report and the quality check's figures."""

    index: int
    report: ComplianceReport
    quality: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _View:
    """How well one photo sees one facing: larger ``rank`` is better."""

    photo: int
    facing: FacingResult
    rank: tuple[float, float, float]


def view_rank(facing: FacingResult, report: ComplianceReport) -> tuple[float, float, float]:
    """(fully in view, closeness to the photo's centre, registration fit), each in [0, 1]."""
    width, height = report.image.width, report.image.height
    box = facing.expected_box
    dx = (box.x + box.w / 2 - width / 2) / max(width / 2, 1.0)
    dy = (box.y + box.h / 2 - height / 2) / max(height / 2, 1.0)
    centrality = max(0.0, 1.0 - math.hypot(dx, dy) / math.sqrt(2))
    registration = report.registration
    fit = (
        registration.label_inliers / registration.labelled_detections
        if registration.labelled_detections
        else 0.0
    )
    return (
        1.0 if facing.visible_fraction >= FULLY_IN_VIEW else facing.visible_fraction,
        round(centrality, 4),
        round(fit, 4),
    )


def _preference(view: _View) -> tuple[bool, bool, tuple[float, float, float], int]:
    """A photo that shows the facing whole outranks one that cuts it; between photos that cut
    it, one that sees a product there outranks one that sees none (a detector misses products
    the frame cuts off, and the share of a cut facing in view is an estimate); then the rank,
    then the earlier photo."""
    whole = view.rank[0] >= 1.0
    return (whole, whole or view.facing.status is not FacingStatus.GAP, view.rank, -view.photo)


def merge_reports(
    planogram: Planogram,
    photos: Sequence[PhotoReport],
    *,
    known_names: Mapping[str, str] | None = None,
    thresholds: TrustThresholds | None = None,
) -> ComplianceReport:
    """The scan's one report from its photos' reports (each made against ``planogram``).

    ``known_names`` (product id or label → name) names other bays' products in the actions.
    ``thresholds``: the scan-level trust check (the union of the photos must show
    ``min_in_view_fraction`` of the bay)."""
    if not photos:
        raise ValueError("merge_reports: no photo reports to merge")
    started = time.perf_counter()
    limits = thresholds or TrustThresholds()
    indices = [photo.index for photo in photos]
    if len(set(indices)) != len(indices):
        raise ValueError(f"merge_reports: photo indices must be distinct, got {indices}")
    for photo in photos:
        if photo.report.planogram_id != planogram.id:
            raise ValueError(
                f"merge_reports: photo {photo.index} was matched against planogram "
                f"{photo.report.planogram_id!r}, not {planogram.id!r}"
            )
    several = len(photos) > 1
    if several:
        photos = [_claim_cut_off_evidence(photo, planogram) for photo in photos]
        photos = [_gaps_beyond_the_frame(photo) for photo in photos]
    usable = [p for p in photos if p.report.trust is None or p.report.trust.conclusive]
    conflicting = _misregistered(usable)
    usable = [p for p in usable if p.index not in conflicting]
    summaries: dict[int, dict[str, Any]] = {
        p.index: {
            "used": any(p is u for u in usable),
            "in_view": 0,
            "chosen": 0,
            "conflict": conflicting.get(p.index),
        }
        for p in photos
    }
    if not usable:
        return _all_refused(planogram, photos, summaries)
    if not several:
        return _only_photo(photos[0], summaries, planogram)

    tag = _tagger(several)
    expected = {facing.facing_id: facing for facing in planogram.facings()}
    reports = {p.index: p.report for p in usable}
    base = max(usable, key=lambda p: (p.report.counts.visible, -p.index)).report

    # --- facings: the best view of each ---
    merged_facings: list[FacingResult] = []
    chosen_photo: dict[str, int] = {}
    views_per_photo: dict[int, list[str]] = {p.index: [] for p in usable}
    for position, facing in enumerate(base.facings):
        views: list[_View] = []
        for photo in usable:
            candidate = photo.report.facings[position]
            if candidate.facing_id != facing.facing_id:
                candidate = photo.report.facing(facing.facing_id)
            if candidate.status is FacingStatus.NOT_VISIBLE:
                continue
            views.append(_View(photo.index, candidate, view_rank(candidate, photo.report)))
            views_per_photo[photo.index].append(facing.facing_id)
        if not views:
            merged_facings.append(_not_seen(facing, usable, tag))
            continue
        best = max(views, key=_preference)
        chosen_photo[facing.facing_id] = best.photo
        merged_facings.append(_from_view(best, views, tag, several))

    # --- unexpected products: each photo speaks for where it gives the verdicts ---
    unexpected = _merge_unexpected(usable, reports, expected, chosen_photo, tag)

    for photo_index, facing_ids in views_per_photo.items():
        summaries[photo_index]["in_view"] = len(facing_ids)
    for photo_index in chosen_photo.values():
        summaries[photo_index]["chosen"] += 1

    report = ComplianceReport.model_construct(
        schema_version=REPORT_SCHEMA_VERSION,
        planogram_id=base.planogram_id,
        planogram_name=base.planogram_name,
        unit=base.unit,
        image=base.image,
        scores=base.scores,
        counts=base.counts,
        facings=merged_facings,
        unexpected=unexpected,
        products=base.products,
        fixtures=base.fixtures,
        registration=base.registration,
        ignored=_merged_ignored(usable, tag),
        detector_labels=_merged_labels(usable),
        timings_ms=_merged_timings(photos),
        actions=[],
        trust=None,
        photos=[],
    )
    recount(planogram, report)
    covered = report.counts.visible / report.counts.facings if report.counts.facings else 0.0
    report.trust = _scan_trust(usable, photos, covered, limits, several)
    if report.trust.conclusive:
        report.actions = build_actions(report, planogram, known_names=known_names)
    report.photos = [
        _photo_summary(photo, summaries[photo.index], expected, views_per_photo) for photo in photos
    ]
    report.timings_ms["merge"] = round((time.perf_counter() - started) * 1000, 1)
    return report


# Two photos that judged at least this many of the same facings and disagree on at least this
# share of them cannot both be registered right: a partial photo of a bay with repeated
# products can fit the wrong stretch of it.
CONFLICT_MIN_SHARED = 3
CONFLICT_SHARE = 0.3
# ... and at least this many: one or two facings judged differently are disagreements the
# merge settles facing by facing, not a photo on the wrong stretch. Overlapping photos meet
# near their frames' edges, where each one's registration is least sure (a demo split with
# two such facings of five shared left its best-registered photo out).
CONFLICT_MIN_DISAGREE = 3
CONFLICT_INSTRUCTION = (
    "This photo does not line up with the scan's other photos (it may show another stretch "
    "of the bay than it seems to). Retake it square-on, overlapping its neighbours a little."
)


def _fit(report: ComplianceReport) -> float:
    registration = report.registration
    if not registration.labelled_detections:
        return 0.0
    return registration.label_inliers / registration.labelled_detections


def _disagreement(a: ComplianceReport, b: ComplianceReport) -> tuple[int, int]:
    """(facings both photos judged whole, of those the ones they judge differently).

    A facing one of them shows cut by its frame is left out: there the detector misses or
    clips the product, and the merge takes the other photo's whole view; a photo registered
    on the wrong stretch of the bay disagrees where both show facings whole."""
    shared = disagree = 0
    for fa, fb in zip(a.facings, b.facings, strict=False):
        if FacingStatus.NOT_VISIBLE in (fa.status, fb.status):
            continue
        if min(fa.visible_fraction, fb.visible_fraction) < FULLY_IN_VIEW:
            continue
        shared += 1
        disagree += fa.status is not fb.status
    return shared, disagree


def _contradict(a: ComplianceReport, b: ComplianceReport) -> bool:
    shared, disagree = _disagreement(a, b)
    return (
        shared >= CONFLICT_MIN_SHARED
        and disagree >= CONFLICT_MIN_DISAGREE
        and disagree >= CONFLICT_SHARE * shared
    )


def _misregistered(usable: Sequence[PhotoReport]) -> dict[int, int]:
    """Photos left out because their verdicts contradict another photo's on the facings both
    judged (photo index → the index of the photo it contradicts); of each such pair the one
    with the weaker registration fit goes, until no contradiction is left."""
    left_out: dict[int, int] = {}
    while True:
        worst: tuple[float, int, int] | None = None
        kept = [p for p in usable if p.index not in left_out]
        for i, a in enumerate(kept):
            for b in kept[i + 1 :]:
                if not _contradict(a.report, b.report):
                    continue
                shared, disagree = _disagreement(a.report, b.report)
                loser, winner = (a, b) if _fit(a.report) < _fit(b.report) else (b, a)
                candidate = (disagree / shared, loser.index, winner.index)
                if worst is None or candidate > worst:
                    worst = candidate
        if worst is None:
            return left_out
        left_out[worst[1]] = worst[2]


# --- joint registration: the scan's photos are taken left to right ---

# Each photo's left edge lies at least this many facing widths right of the previous
# photo's: the staff page asks for the photos in order, left to right.
ORDER_MARGIN_FACINGS = 0.5
# A re-registration within the order prior replaces the photo's own registration only when
# it explains at least this share of the boxes the photo's own one explained (label inliers):
# repeated products make the two about equally good; a photo truly taken out of order (a
# further photo of the left end) fits its prior-bound placement much worse and keeps its own.
REREGISTERED_MIN_FIT = 0.85
# The allowed range of a photo's left edge is tried in windows this many facings wide.
WINDOW_FACINGS = 1.0
# Photos that keep the order are tried this many windows either side of their own placement.
EXPLORE_FACINGS = 2.0
# One facing two photos judge differently weighs as much as this many boxes explained.
DISAGREEMENT_WEIGHT = 2

# A photo whose x:y scale ratio (its registration's ``scale_x / scale_y``) is more than this
# factor off the scan's is registered again with the scan's ratio (within
# ``ASPECT_PRIOR_FACTOR``): a scan's photos share the planogram's units and, taken face on
# from about the same place, the camera's proportions. The shelves pin a photo's vertical
# scale, but a photo of a third of a bay shows a few facings per shelf, and the boxes the
# frame cuts at either end pull their centres in: its horizontal scale came out up to 30 %
# short on the benchmark's splits (benchmarks/multi_photo.py), drawing facings beyond the
# frame inside it.
ASPECT_TOLERANCE = 1.15
ASPECT_PRIOR_FACTOR = 1.08
# ...with its left edge within this many facings of where it was.
ASPECT_EDGE_FACINGS = 1.5


class Reregister(Protocol):
    """Re-analyse a photo with its left edge (planogram x units) known to lie in
    ``left_edge`` ``(low, high)`` and, when given, its ``scale_x / scale_y`` in ``aspect``;
    None when it cannot be (no detections kept, say)."""

    def __call__(
        self,
        photo: PhotoReport,
        left_edge: tuple[float, float],
        aspect: tuple[float, float] | None = None,
    ) -> PhotoReport | None: ...


def left_edge_units(report: ComplianceReport) -> float | None:
    """Where along the bay (planogram x units) the photo's left edge lies by its registration;
    None when the registration did not come from labelled boxes."""
    registration = report.registration
    if registration.method != "detections" or registration.scale_x <= 0:
        return None
    return -registration.offset_x / registration.scale_x


def _order_violations(edges: Sequence[float], margin: float) -> int:
    """Pairs of photos (in taking order) whose left edges do not advance by ``margin``."""
    return sum(
        later < earlier + margin for i, earlier in enumerate(edges) for later in edges[i + 1 :]
    )


def register_in_order(
    planogram: Planogram, photos: Sequence[PhotoReport], reregister: Reregister
) -> list[PhotoReport]:
    """The scan's photos registered jointly: photo ``k`` (taken after ``k - 1``) shows a
    stretch of the bay further right.

    Each photo was registered on its own; a photo of a third of a bay whose products repeat
    can fit the wrong stretch as well as the right one. Where two photos break the order (or
    contradict each other's verdicts where both look), each of them is registered again with
    its left edge between its neighbours' (``reregister``), and of all the photos'
    placements (own or re-registered) the combination that breaks the order least, then
    contradicts least, then explains the most boxes, is kept. A photo whose proportions are
    off the scan's is then registered with the scan's (``_with_the_scans_aspect``). Photos that
    cannot be placed
    (refused by the trust check, registered by layout only) keep their own reports.
    Returns the photos in the order given, some replaced by their re-registered reports."""
    if len(photos) < 2:
        return list(photos)
    widths = [facing.w for facing in planogram.facings() if facing.w > 0]
    if not widths:
        return list(photos)
    placed = sorted(
        (
            p
            for p in photos
            if (p.report.trust is None or p.report.trust.conclusive)
            and left_edge_units(p.report) is not None
        ),
        key=lambda p: p.index,
    )
    if len(placed) < 2:
        return list(photos)
    fit_of_own = {p.index: p.report.registration.label_inliers for p in placed}
    # A photo moved to its place may reveal the next one's: a few rounds, until none moves.
    for round_ in range(len(placed)):
        moved = _reregister_round(
            planogram, placed, reregister, fit_of_own, widths, explore=round_ == 0
        )
        if moved is None:
            break
        placed = moved
    placed = _with_the_scans_aspect(placed, reregister, statistics.median(widths))
    replaced = {p.index: p for p in placed}
    return [replaced.get(p.index, p) for p in photos]


def _aspect(report: ComplianceReport) -> float:
    registration = report.registration
    return registration.scale_x / registration.scale_y if registration.scale_y > 0 else 0.0


def _with_the_scans_aspect(
    placed: list[PhotoReport], reregister: Reregister, facing_width: float
) -> list[PhotoReport]:
    """The photos, those whose ``scale_x / scale_y`` is off the scan's (``ASPECT_TOLERANCE``)
    registered again with the scan's (the median of three or more photos; of two, the one
    whose registration explains more boxes). The new registration replaces the photo's own
    when it explains as many boxes, give or take one: a few facings per shelf fit a range of
    horizontal scales about equally well."""
    if len(placed) >= 3:
        reference = statistics.median(_aspect(p.report) for p in placed)
    else:
        best = max(placed, key=lambda p: p.report.registration.label_inliers)
        reference = _aspect(best.report)
    if reference <= 0:
        return placed
    out = []
    for photo in placed:
        aspect = _aspect(photo.report)
        if aspect <= 0 or abs(math.log(aspect / reference)) <= math.log(ASPECT_TOLERANCE):
            out.append(photo)
            continue
        edge = left_edge_units(photo.report) or 0.0
        window = ASPECT_EDGE_FACINGS * facing_width
        again = reregister(
            photo,
            (edge - window, edge + window),
            (reference / ASPECT_PRIOR_FACTOR, reference * ASPECT_PRIOR_FACTOR),
        )
        own_fit = photo.report.registration.label_inliers
        if again is not None and again.report.registration.label_inliers >= own_fit - 1:
            out.append(again)
        else:
            out.append(photo)
    return out


def _reregister_round(
    planogram: Planogram,
    placed: list[PhotoReport],
    reregister: Reregister,
    fit_of_own: Mapping[int, int],
    widths: Sequence[float],
    *,
    explore: bool = False,
) -> list[PhotoReport] | None:
    """One round of ``register_in_order``: the photos (in taking order) with the suspects
    re-registered, or None when none moved. With ``explore``, the photos that keep the order
    are also tried within ``EXPLORE_FACINGS`` of their own placement, and a placement there
    counts only when it explains more boxes than their own."""
    margin = ORDER_MARGIN_FACINGS * statistics.median(widths)
    edges = [left_edge_units(p.report) or 0.0 for p in placed]
    suspects: set[int] = set()
    for i, a in enumerate(placed):
        for j in range(i + 1, len(placed)):
            if edges[j] < edges[i] + margin or _contradict(a.report, placed[j].report):
                suspects.update((i, j))
    if not suspects and not explore:
        return None

    # The bay's extent: a photo shows at least half its own width of it.
    bay_left = min(facing.x for facing in planogram.facings())
    bay_right = max(facing.x + facing.w for facing in planogram.facings())
    step = WINDOW_FACINGS * statistics.median(widths)
    options: list[list[PhotoReport]] = [[p] for p in placed]
    for i in range(len(placed)) if explore else sorted(suspects):
        report = placed[i].report
        half_photo = 0.5 * report.image.width / report.registration.scale_x
        low = edges[i - 1] + margin if i > 0 else bay_left - half_photo
        high = edges[i + 1] - margin if i + 1 < len(placed) else bay_right - half_photo
        needed = REREGISTERED_MIN_FIT * fit_of_own[placed[i].index]
        if i not in suspects:
            # The vote's densest offset is not always the one that explains most boxes
            # (a narrow photo's scale is loose): look near it for a better fit.
            low = max(low, edges[i] - EXPLORE_FACINGS * step)
            high = min(high, edges[i] + EXPLORE_FACINGS * step)
            needed = report.registration.label_inliers + 1
        found = [edges[i]]
        # Repeated products make several placements about equally good, a facing or more
        # apart: each window of the allowed range is tried on its own and judged by its fit.
        start = low
        while start < high:
            again = reregister(placed[i], (start, min(start + step, high)))
            start += step
            edge = left_edge_units(again.report) if again is not None else None
            if again is None or edge is None:
                continue
            if again.report.registration.label_inliers < needed:
                continue
            if any(abs(edge - other) < margin for other in found):
                continue
            found.append(edge)
            options[i].append(again)

    def cost(choice: Sequence[PhotoReport]) -> tuple[int, int, int, int]:
        edges_now = [left_edge_units(p.report) or 0.0 for p in choice]
        contradictions = disagreements = 0
        for i, a in enumerate(choice):
            for b in choice[i + 1 :]:
                disagreements += _disagreement(a.report, b.report)[1]
                contradictions += _contradict(a.report, b.report)
        explained = sum(p.report.registration.label_inliers for p in choice)
        changed = sum(p is not own[0] for p, own in zip(choice, options, strict=True))
        return (
            _order_violations(edges_now, margin),
            contradictions,
            DISAGREEMENT_WEIGHT * disagreements - explained,
            changed,
        )

    best = list(min(itertools.product(*options), key=cost))
    if all(a is b for a, b in zip(best, placed, strict=True)):
        return None
    return best


# --- evidence of facings cut by a photo's frame ---

# A facing with less than this share inside the photo is cut by its frame (the engine's own
# limit for judging a facing: ``MatchOptions.min_judged_fraction``).
CUT_BY_FRAME = MatchOptions().min_judged_fraction


def _product_of_label(
    label: str | None, report: ComplianceReport, planogram: Planogram
) -> str | None:
    """The planogram product a detector label names (its id, its name, or the detector's
    resolved class name); None when it names none of them."""
    if label is None:
        return None
    products = planogram.product_by_id()
    if label in products:
        return label
    if report.detector_labels is not None and label in report.detector_labels.resolved:
        return report.detector_labels.resolved[label]
    named = [p.id for p in planogram.products if p.name == label]
    return named[0] if len(named) == 1 else None


def _stands_in(box: Box, facings: Sequence[FacingResult], fixture_id: str) -> int | None:
    """The facing of ``fixture_id`` whose planned place holds the box's centre, if any."""
    centre_x, centre_y = box.x + box.w / 2, box.y + box.h / 2
    for f, facing in enumerate(facings):
        place = facing.expected_box
        if (
            facing.fixture_id == fixture_id
            and place.x <= centre_x <= place.x + place.w
            and place.y <= centre_y <= place.y + place.h
        ):
            return f
    return None


def _claim_cut_off_evidence(photo: PhotoReport, planogram: Planogram) -> PhotoReport:
    """Boxes lent to a facing cut by the photo's frame go back to where they stand.

    A facing cut by the frame loses its own product box (the detector keeps a box only when
    most of it is in view), and the shelf's alignment, for which a shift is cheap, then lends
    it its neighbour's box, that neighbour the next one's, and so on, until a whole facing is
    left looking empty: a chain of shifted boxes ending at the frame. In a scan of several
    photos the cut facing is another photo's to judge, so each box of such a chain goes to the
    facing whose place it stands in (ok or misplaced by its label), and the cut facing is not
    visible here. Only a whole chain is undone: from a cut facing holding a box that stands in
    another facing's place, box by box, to a whole facing judged empty without a gap box of
    the detector's; every box's label must name a planogram product."""
    report = photo.report
    facings = list(report.facings)
    outside: list[str] = []
    changed = False
    for g, cut in enumerate(report.facings):
        if cut.visible_fraction >= CUT_BY_FRAME or cut.status is not FacingStatus.OK:
            continue
        # (holder, the facing the held box stands in) along the chain
        chain: list[tuple[int, int]] = []
        # The last facing of the chain, when the box it holds stands beyond the bay's end.
        freed: int | None = None
        holder = g
        while True:
            held = facings[holder]
            if held.evidence.source is not EvidenceSource.DETECTION:
                break
            if held.shift_facings is None or abs(held.shift_facings) < 0.5:
                break
            place = _stands_in(held.evidence.box, facings, held.fixture_id)
            if place is None and chain and _beyond_the_fixture(held, facings):
                freed = holder
                break
            if place is None or place == holder or any(place == h for h, _ in chain):
                break
            chain.append((holder, place))
            target = facings[place]
            if target.status is FacingStatus.GAP:
                break
            holder = place
        if not chain:
            continue
        end = facings[chain[-1][1]]
        if end.visible_fraction < CUT_BY_FRAME:
            continue
        if freed is None and (
            end.status is not FacingStatus.GAP or end.evidence.source is not EvidenceSource.INFERRED
        ):
            continue
        seen = [_product_of_label(facings[h].evidence.label, report, planogram) for h, _ in chain]
        if any(product is None for product in seen):
            continue
        reseated = {
            place: _reseated(facings[place], facings[holder].evidence, product)
            for (holder, place), product in zip(chain, seen, strict=True)
        }
        if freed is not None and facings[freed].evidence.detection_id is not None:
            # Its box stands outside the bay: left out of the verdicts, as the engine does.
            outside.append(facings[freed].evidence.detection_id)
        facings[g] = _cut_off(cut)
        for place, facing in reseated.items():
            facings[place] = facing
        changed = True
    if not changed:
        return photo
    ignored = report.ignored.model_copy(
        update={"outside_planogram": [*report.ignored.outside_planogram, *outside]}
    )
    return replace(photo, report=report.model_copy(update={"facings": facings, "ignored": ignored}))


# A shelf whose product boxes stand, by their median, at least this many facing widths from
# their planned places is drawn that far off by the photo's registration.
SHELF_SHIFT_FACINGS = 0.5
# ... judged by at least this many boxes of whole facings.
SHELF_SHIFT_MIN_BOXES = 3


def _shelf_shifts(report: ComplianceReport, at_least: float) -> dict[str | None, float]:
    """Per fixture, the median shift (facing widths) of the boxes judging its whole facings,
    where at least ``SHELF_SHIFT_MIN_BOXES`` boxes judge it and the median is at least
    ``at_least`` from zero."""
    shifts: dict[str | None, list[float]] = {}
    for facing in report.facings:
        if (
            facing.evidence.source is EvidenceSource.DETECTION
            and facing.shift_facings is not None
            and facing.visible_fraction >= CUT_BY_FRAME
        ):
            shifts.setdefault(facing.fixture_id, []).append(facing.shift_facings)
    medians = {
        fixture: statistics.median(values)
        for fixture, values in shifts.items()
        if len(values) >= SHELF_SHIFT_MIN_BOXES
    }
    return {fixture: m for fixture, m in medians.items() if abs(m) >= at_least}


def _share_in_frame(box: Box, offset: float, width: float, height: float) -> float:
    """Share of ``box`` inside the frame once moved ``offset`` of its width along x."""
    left = box.x + offset * box.w
    in_x = max(0.0, min(left + box.w, width) - max(left, 0.0))
    in_y = max(0.0, min(box.y + box.h, height) - max(box.y, 0.0))
    return in_x * in_y / max(box.w * box.h, 1e-9)


def _gaps_beyond_the_frame(photo: PhotoReport) -> PhotoReport:
    """Gaps the photo's frame cuts once its shelf's registration offset is corrected.

    A photo of part of a bay can be registered a facing off along a shelf (repeated
    products, a scale a little short): the shelf alignment then lends every facing its
    neighbour's box, all shifted the same way, and the facing at the end of the shelf in
    view is left with none and judged a gap, although its place lies, by the boxes around
    it, mostly beyond the frame. Here each shelf's median shift (of the boxes of whole
    facings) moves its empty facings to where the boxes say they stand; an empty facing
    that is then less than ``CUT_BY_FRAME`` in view is not visible in this photo, and
    another photo (or none) judges it. A shelf registered right (median shift under
    ``SHELF_SHIFT_FACINGS``) keeps its gaps, at the frame's edge too."""
    report = photo.report
    width, height = report.image.width, report.image.height
    offsets = _shelf_shifts(report, SHELF_SHIFT_FACINGS)
    if not offsets:
        return photo
    facings = list(report.facings)
    changed = False
    for index, facing in enumerate(facings):
        offset = offsets.get(facing.fixture_id)
        if (
            offset is None
            or facing.status is not FacingStatus.GAP
            or facing.evidence.source is not EvidenceSource.INFERRED
        ):
            continue
        share = _share_in_frame(facing.expected_box, offset, width, height)
        if share >= CUT_BY_FRAME:
            continue
        facings[index] = facing.model_copy(
            update={
                "status": FacingStatus.NOT_VISIBLE,
                "reason": (
                    f"no product seen in its place, but its shelf's products stand "
                    f"{abs(offset):.1f} facings {'right' if offset > 0 else 'left'} of their "
                    f"planned places here, which puts it {share:.0%} in view: photograph it "
                    "whole"
                ),
                "evidence": facing.evidence.model_copy(
                    update={"source": EvidenceSource.OUTSIDE_PHOTO}
                ),
            }
        )
        changed = True
    if not changed:
        return photo
    return replace(photo, report=report.model_copy(update={"facings": facings}))


def _beyond_the_fixture(held: FacingResult, facings: Sequence[FacingResult]) -> bool:
    """Whether the box ``held`` is evidence of stands past either end of its fixture's
    facings (in the photo's pixels)."""
    box = held.evidence.box
    centre = box.x + box.w / 2
    same = [f.expected_box for f in facings if f.fixture_id == held.fixture_id]
    return centre < min(b.x for b in same) or centre > max(b.x + b.w for b in same)


def _reseated(facing: FacingResult, evidence: Evidence, seen: str | None) -> FacingResult:
    """``facing`` judged by the box ``evidence`` standing in its place (``seen``: the
    planogram product the box's label names)."""
    box, place = evidence.box, facing.expected_box
    in_place = seen == facing.product_id
    found = evidence.label if evidence.label is not None else seen
    reason = "in place" if in_place else f"expected {facing.product_name}, found {found}"
    return facing.model_copy(
        update={
            "status": FacingStatus.OK if in_place else FacingStatus.MISPLACED,
            "reason": f"{reason} (its box had been lent to a neighbour cut by the photo's frame)",
            "evidence": evidence,
            "found_product_id": seen,
            "found_label": evidence.label,
            "shift_facings": round(
                (box.x + box.w / 2 - place.x - place.w / 2) / max(place.w, 1e-9), 2
            ),
        }
    )


def _cut_off(facing: FacingResult) -> FacingResult:
    """``facing``, cut by the photo's frame, not visible: its box stands in another place."""
    return facing.model_copy(
        update={
            "status": FacingStatus.NOT_VISIBLE,
            "reason": (
                f"partly outside the photo ({facing.visible_fraction:.0%} of the facing in view)"
                " and its product not seen in its place: photograph it whole"
            ),
            "evidence": facing.evidence.model_copy(
                update={
                    "source": EvidenceSource.OUTSIDE_PHOTO,
                    "box": facing.expected_box,
                    "detection_id": None,
                    "label": None,
                    "confidence": None,
                }
            ),
            "found_product_id": None,
            "found_label": None,
            "shift_facings": None,
        }
    )


def _tagger(several: bool):  # type: ignore[no-untyped-def]
    """Detection ids of a merged report name their photo (``p1.d7``): two photos' detectors
    number their boxes independently. One photo keeps its ids."""

    def tag(photo: int, detection_id: str | None) -> str | None:
        if detection_id is None or not several:
            return detection_id
        return f"p{photo}.{detection_id}"

    return tag


def _from_view(best: _View, views: list[_View], tag, several: bool) -> FacingResult:  # type: ignore[no-untyped-def]
    facing = best.facing
    evidence = facing.evidence.model_copy(
        update={"photo": best.photo, "detection_id": tag(best.photo, facing.evidence.detection_id)}
    )
    reason = facing.reason
    others = [v for v in views if v is not best and v.facing.status is not facing.status]
    if others:
        said = ", ".join(f"photo {v.photo + 1}: {v.facing.status.value}" for v in others)
        reason = (
            f"{reason} (photos disagree — {said}; photo {best.photo + 1} sees it best"
            f"{'' if best.rank[0] < 1.0 else ', fully in view'})"
        )
    elif several and len(views) > 1:
        reason = f"{reason} (seen in {len(views)} photos, they agree)"
    return facing.model_copy(update={"evidence": evidence, "reason": reason})


def _not_seen(facing: FacingResult, usable: Sequence[PhotoReport], tag) -> FacingResult:  # type: ignore[no-untyped-def]
    """A facing no usable photo judged: not visible, with the best partial view's share."""
    seen = [p.report.facing(facing.facing_id) for p in usable]
    best = max(seen, key=lambda f: f.visible_fraction)
    where = "in any photo" if len(usable) > 1 else "in the photo"
    reason = (
        best.reason
        if len(usable) == 1
        else f"not judged {where} (at most {best.visible_fraction:.0%} of it in view)"
    )
    photo = next(p.index for p in usable if p.report.facing(facing.facing_id) is best)
    return best.model_copy(
        update={
            "status": FacingStatus.NOT_VISIBLE,
            "reason": reason,
            "evidence": best.evidence.model_copy(update={"photo": photo}),
            "found_product_id": None,
            "found_label": None,
            "shift_facings": None,
        }
    )


def _units_x(
    item: UnexpectedProduct, report: ComplianceReport, expected: Mapping[str, ExpectedFacing]
) -> tuple[float, ExpectedFacing | None]:
    """The product's centre in planogram units along its fixture, from the nearest facing of
    that fixture in the same photo (its pixel box and its planned place give the local
    scale), and that facing."""
    centre_px = item.box.x + item.box.w / 2
    same_fixture = [f for f in report.facings if f.fixture_id == item.fixture_id]
    if not same_fixture:
        return math.nan, None
    nearest = min(
        same_fixture, key=lambda f: abs(f.expected_box.x + f.expected_box.w / 2 - centre_px)
    )
    plan = expected.get(nearest.facing_id)
    if plan is None or nearest.expected_box.w <= 0:
        return math.nan, None
    offset_px = centre_px - (nearest.expected_box.x + nearest.expected_box.w / 2)
    return plan.x + plan.w / 2 + offset_px / nearest.expected_box.w * plan.w, plan


def _merge_unexpected(
    usable: Sequence[PhotoReport],
    reports: Mapping[int, ComplianceReport],
    expected: Mapping[str, ExpectedFacing],
    chosen_photo: Mapping[str, int],
    tag,  # type: ignore[no-untyped-def]
) -> list[UnexpectedProduct]:
    kept: list[tuple[str | None, str, float, float, UnexpectedProduct]] = []
    for photo in sorted(usable, key=lambda p: p.index):
        report = reports[photo.index]
        for item in report.unexpected:
            x_units, nearest = _units_x(item, report, expected)
            if nearest is not None:
                owner = chosen_photo.get(nearest.facing_id)
                if owner is not None and owner != photo.index:
                    # Another photo gives the verdicts here: it speaks for this spot, and
                    # reports its own unexpected products there if there are any.
                    continue
            key = item.product_id or item.label
            width = nearest.w if nearest is not None else 0.0
            duplicate = any(
                fixture == item.fixture_id
                and other_key == key
                and not math.isnan(x_units)
                and abs(other_x - x_units) < SAME_PRODUCT_DISTANCE * max(width, other_w)
                for fixture, other_key, other_x, other_w, _ in kept
            )
            if duplicate:
                continue
            tagged = item.model_copy(
                update={"photo": photo.index, "detection_id": tag(photo.index, item.detection_id)}
            )
            kept.append((item.fixture_id, key, x_units, width, tagged))
    return [entry[-1] for entry in kept]


def _merged_ignored(usable: Sequence[PhotoReport], tag) -> IgnoredDetections:  # type: ignore[no-untyped-def]
    merged = IgnoredDetections()
    for photo in usable:
        ignored = photo.report.ignored
        merged.duplicates.extend(tag(photo.index, d) for d in ignored.duplicates)
        merged.outside_planogram.extend(tag(photo.index, d) for d in ignored.outside_planogram)
        merged.unused_gap_boxes.extend(tag(photo.index, d) for d in ignored.unused_gap_boxes)
    return merged


def _merged_labels(usable: Sequence[PhotoReport]) -> DetectorLabels | None:
    labels = [p.report.detector_labels for p in usable if p.report.detector_labels is not None]
    if not labels:
        return None
    merged = DetectorLabels()
    for item in labels:
        merged.resolved.update(item.resolved)
        for name, count in item.unmapped.items():
            merged.unmapped[name] = merged.unmapped.get(name, 0) + count
        for name, count in item.ignored.items():
            merged.ignored[name] = merged.ignored.get(name, 0) + count
    return merged


def _merged_timings(photos: Sequence[PhotoReport]) -> dict[str, float]:
    total: dict[str, float] = {}
    for photo in photos:
        for key, value in photo.report.timings_ms.items():
            if key != "planogram_cache_hit":
                total[key] = round(total.get(key, 0.0) + value, 1)
    return total


def _scan_trust(
    usable: Sequence[PhotoReport],
    photos: Sequence[PhotoReport],
    covered: float,
    limits: TrustThresholds,
    several: bool,
) -> TrustSummary:
    """Conclusive when a usable photo is and the photos together show enough of the bay."""
    best = max(usable, key=lambda p: p.report.counts.visible).report
    figures = dict(best.trust.figures) if best.trust is not None else {}
    figures["in_view_fraction"] = round(covered, 4)
    figures["photos"] = len(photos)
    figures["photos_used"] = len(usable)
    if not several and best.trust is not None:
        return best.trust
    if covered < limits.min_in_view_fraction:
        reason = TrustReason.TOO_LITTLE_IN_VIEW
        return TrustSummary(
            conclusive=False,
            reason=reason.value,
            instruction=INSTRUCTIONS[reason],
            likely_bay=None,
            figures=figures,
        )
    return TrustSummary(
        conclusive=True, reason=None, instruction=None, likely_bay=None, figures=figures
    )


def _all_refused(
    planogram: Planogram, photos: Sequence[PhotoReport], summaries: dict[int, dict[str, Any]]
) -> ComplianceReport:
    """No usable photo: the first photo's (inconclusive) report, with every photo listed."""
    expected = {facing.facing_id: facing for facing in planogram.facings()}
    first = min(photos, key=lambda p: p.index)
    report = first.report.model_copy(deep=True)
    report.schema_version = REPORT_SCHEMA_VERSION
    report.actions = []
    report.photos = [
        _photo_summary(photo, summaries[photo.index], expected, {}) for photo in photos
    ]
    return report


def _only_photo(
    photo: PhotoReport, summaries: dict[int, dict[str, Any]], planogram: Planogram
) -> ComplianceReport:
    """One photo: its report as it is (its boxes' ``photo`` stays null: the only photo), with
    its ``photos`` entry."""
    report = photo.report.model_copy()
    report.schema_version = REPORT_SCHEMA_VERSION
    judged = [f.facing_id for f in report.facings if f.status is not FacingStatus.NOT_VISIBLE]
    summary = dict(summaries[photo.index], in_view=len(judged), chosen=len(judged))
    expected = {facing.facing_id: facing for facing in planogram.facings()}
    report.photos = [_photo_summary(photo, summary, expected, {photo.index: judged})]
    return report


def _photo_summary(
    photo: PhotoReport,
    summary: Mapping[str, Any],
    expected: Mapping[str, ExpectedFacing],
    views_per_photo: Mapping[int, list[str]],
) -> PhotoSummary:
    trust = photo.report.trust
    in_view = [expected[f] for f in views_per_photo.get(photo.index, []) if f in expected]
    if not in_view and not summary["used"]:
        in_view = [
            expected[f.facing_id]
            for f in photo.report.facings
            if f.status is not FacingStatus.NOT_VISIBLE and f.facing_id in expected
        ]
    view = None
    if in_view:
        x1 = min(f.x for f in in_view)
        y1 = min(f.y for f in in_view)
        x2 = max(f.x + f.w for f in in_view)
        y2 = max(f.y + f.h for f in in_view)
        view = Extent(x=round(x1, 2), y=round(y1, 2), w=round(x2 - x1, 2), h=round(y2 - y1, 2))
    reason = instruction = None
    if summary.get("conflict") is not None:
        reason, instruction = "conflicts_with_other_photos", CONFLICT_INSTRUCTION
    elif not summary["used"] and trust is not None:
        reason, instruction = trust.reason, trust.instruction
    return PhotoSummary(
        index=photo.index,
        used=bool(summary["used"]),
        left_out_reason=reason,
        instruction=instruction,
        image=photo.report.image,
        quality=dict(photo.quality) if photo.quality is not None else None,
        registration=photo.report.registration,
        trust=trust,
        facings_in_view=len(in_view) if summary["used"] else 0,
        facings_chosen=int(summary["chosen"]),
        view=view,
    )
