"""``match_planogram``: what stands in every planogram facing of one photo.

Data flows one way: detections → duplicate suppression → registration (pixels ↔ units) →
per-shelf order alignment → overlap assignment of what is left → gaps, coverage and not-visible
decisions → report. Pure: numpy, scipy and shapely only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np

from shelfscan.compliance import boxes as bx
from shelfscan.compliance.assignment import (
    INFEASIBLE,
    align_rows,
    assign_by_overlap,
    duplicate_mask,
)
from shelfscan.compliance.labels import GENERIC, UNKNOWN, LabelResolver
from shelfscan.compliance.registration import Registration, RegistrationOptions, register
from shelfscan.compliance.report import (
    Box,
    ComplianceReport,
    Counts,
    Evidence,
    EvidenceSource,
    FacingResult,
    FacingStatus,
    FixtureSummary,
    IgnoredDetections,
    ImageInfo,
    ProductSummary,
    RegistrationSummary,
    RowSummary,
    Scores,
    UnexpectedKind,
    UnexpectedProduct,
)
from shelfscan.detections import Detections
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import ExpectedFacing, Planogram


@dataclass(frozen=True)
class MatchOptions:
    registration: RegistrationOptions = field(default_factory=RegistrationOptions)
    # An alternative label counts when its confidence reaches this share of the top label's.
    alternative_ratio: float = 0.5
    # Alignment costs, in units of "one misplacement".
    mismatch_cost: float = 0.9
    alternative_cost: float = 0.15
    generic_cost: float = 0.15
    # Per facing width of displacement: cheap, so that a block that slid into a gap aligns
    # with its plan (a few small shifts) rather than reading as a chain of misplacements.
    shift_cost: float = 0.08
    max_shift_facings: float = 2.5
    gap_cost: float = 0.6
    # An extra product needs room the plan did not leave, so it is rarer than a gap.
    extra_cost: float = 0.9
    # A facing with less of its box inside the photo than this is not visible.
    min_visible_fraction: float = 0.5
    leftover_min_iou: float = 0.3
    # Share of a facing that a gap box must cover to be its evidence.
    gap_box_overlap: float = 0.3
    duplicate_iou: float = 0.7
    # A box this many times wider than its facing may stand in its neighbours too.
    wide_box_ratio: float = 1.5
    cover_fraction: float = 0.5


def _planned_facings(planogram: Planogram) -> list[ExpectedFacing]:
    products = planogram.product_by_id()
    problems = [
        Problem(f"positions[{i}].productId", f"unknown product {p.product_id!r}")
        for i, p in enumerate(planogram.positions)
        if p.product_id not in products
    ]
    problems += [
        Problem(f"products[{i}]", f"width and height must be positive, got {p.w} x {p.h}")
        for i, p in enumerate(planogram.products)
        if not (p.w > 0 and p.h > 0 and math.isfinite(p.w) and math.isfinite(p.h))
    ]
    if problems:
        raise PlanogramError(problems)
    facings = planogram.facings()
    if not facings:
        raise PlanogramError([Problem("positions", "the planogram has no positions to match")])
    return facings


def _boxes(xyxy: np.ndarray) -> list[Box]:
    xywh = np.round(np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]), 1).tolist()
    return [Box.trusted(x=x, y=y, w=w, h=h) for x, y, w, h in xywh]


def match_planogram(
    planogram: Planogram, detections: Detections, *, options: MatchOptions | None = None
) -> ComplianceReport:
    """Decide, for every facing of ``planogram``, what ``detections`` show there."""
    options = options or MatchOptions()
    clock = perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = perf_counter()
        timings[name] = round((now - clock) * 1000, 3)
        clock = now

    facings = _planned_facings(planogram)
    products = planogram.products
    product_index = {p.id: i for i, p in enumerate(products)}
    n_f = len(facings)
    facing_units = np.array([(f.x, f.y, f.x + f.w, f.y + f.h) for f in facings], dtype=float)
    facing_product = np.array([product_index[f.product_id] for f in facings], dtype=np.intp)
    product_size = np.array([(p.w, p.h) for p in products], dtype=float)
    resolver = LabelResolver(products)
    image_w, image_h = detections.image_width, detections.image_height

    # --- detections: resolve labels, drop duplicate boxes ---
    n_all = len(detections)
    labels = [str(label) for label in detections.labels]
    is_gap = detections.is_gap.copy()
    top_all = np.array(resolver.resolve_many(labels), dtype=np.intp).reshape(n_all)
    top_all[is_gap] = UNKNOWN
    alternatives = detections.alternatives or None
    plausible_all = [
        ()
        if is_gap[i]
        else resolver.plausible(
            labels[i], alternatives[i] if alternatives else None, options.alternative_ratio
        )
        for i in range(n_all)
    ]
    duplicate = np.zeros(n_all, dtype=bool)
    product_rows = np.flatnonzero(~is_gap)
    duplicate[product_rows] = duplicate_mask(
        detections.xyxy[product_rows],
        detections.confidence[product_rows],
        iou=options.duplicate_iou,
    )
    kept = np.flatnonzero(~duplicate)
    k_boxes = detections.xyxy[kept]
    k_gap = is_gap[kept]
    k_top = top_all[kept]
    k_plausible = [plausible_all[i] for i in kept]
    lap("prepare")

    reg = register(
        k_boxes,
        k_gap,
        k_plausible,
        facing_units,
        facing_product,
        product_size,
        (image_w, image_h),
        options.registration,
    )
    lap("registration")

    expected = reg.facing_boxes(facing_units)  # de-rotated frame
    expected_image = reg.to_image(expected)
    clipped = expected_image.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, image_w)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, image_h)
    full_area = bx.area(expected_image)
    visible_fraction = np.divide(
        bx.area(clipped), full_area, out=np.zeros(n_f), where=full_area > 0
    )
    visible = visible_fraction >= options.min_visible_fraction
    det_boxes = reg.derotate(k_boxes)
    det_cx = bx.centers_x(det_boxes)
    exp_cx = bx.centers_x(expected)
    exp_w = bx.widths(expected)
    n_k = len(kept)
    if len(reg.level_of_row):
        row = reg.row_of_detection
        det_level = np.where(row >= 0, reg.level_of_row[np.maximum(row, 0)], -1)
    else:
        det_level = np.full(n_k, -1, dtype=np.intp)
    det_level = np.where(k_gap, -1, det_level)

    # --- per-shelf order alignment ---
    match_of_facing = np.full(n_f, -1, dtype=np.intp)
    match_cost_kind = np.zeros(n_f, dtype=np.int8)  # 0 same, 1 alternative, 2 generic, 3 other
    costs, skips, facing_orders, det_orders = [], [], [], []
    for level in np.flatnonzero(reg.row_of_level >= 0):
        f_idx = np.flatnonzero(reg.level_of_facing == level)
        d_idx = np.flatnonzero(det_level == level)
        if len(f_idx) == 0 or len(d_idx) == 0:
            continue
        f_idx = f_idx[np.argsort(exp_cx[f_idx], kind="stable")]
        d_idx = d_idx[np.argsort(det_cx[d_idx], kind="stable")]
        kind = _label_kinds(facing_product[f_idx], k_top[d_idx], [k_plausible[d] for d in d_idx])
        label_cost = np.choose(
            kind,
            [0.0, options.alternative_cost, options.generic_cost, options.mismatch_cost],
        )
        shift = (det_cx[d_idx][None, :] - exp_cx[f_idx][:, None]) / exp_w[f_idx][:, None]
        distance = np.abs(shift)
        cost = label_cost + options.shift_cost * distance
        cost[distance > options.max_shift_facings] = INFEASIBLE
        costs.append(cost)
        skips.append(np.where(visible[f_idx], options.gap_cost, 0.05))
        facing_orders.append(f_idx)
        det_orders.append((d_idx, kind))
    for pairs, f_idx, (d_idx, kind) in zip(
        align_rows(costs, skips, options.extra_cost), facing_orders, det_orders, strict=True
    ):
        for i, j in pairs:
            match_of_facing[f_idx[i]] = d_idx[j]
            match_cost_kind[f_idx[i]] = kind[i, j]
    lap("alignment")

    # --- what the rows left: boxes in no shelf row, by overlap ---
    det_matched = np.zeros(n_k, dtype=bool)
    det_matched[match_of_facing[match_of_facing >= 0]] = True
    open_facings = np.flatnonzero((match_of_facing < 0) & visible)
    loose = np.flatnonzero((det_level < 0) & ~k_gap & ~det_matched)
    if len(open_facings) and len(loose):
        kinds = _label_kinds(
            facing_product[open_facings], k_top[loose], [k_plausible[d] for d in loose]
        )
        for i, j in assign_by_overlap(
            expected[open_facings],
            det_boxes[loose],
            kinds == 3,
            min_iou=options.leftover_min_iou,
        ):
            match_of_facing[open_facings[i]] = loose[j]
            match_cost_kind[open_facings[i]] = kinds[i, j]
            det_matched[loose[j]] = True

    # --- unmatched facings: covered by a wide box, a gap box, empty space or out of view ---
    covered_by = np.full(n_f, -1, dtype=np.intp)
    open_facings = np.flatnonzero((match_of_facing < 0) & visible)
    matched_f = np.flatnonzero(match_of_facing >= 0)
    # A box wider than the product it shows stands for several facings (the detector merged
    # neighbours); such a box may also answer for the open facings it covers.
    matched_d = match_of_facing[matched_f]
    seen_product = np.where(
        match_cost_kind[matched_f] == 0, facing_product[matched_f], k_top[matched_d]
    )
    own_width = np.where(
        seen_product >= 0,
        product_size[np.maximum(seen_product, 0), 0]
        * reg.level_scale_x[reg.level_of_facing[matched_f]],
        exp_w[matched_f],
    )
    wide = matched_f[bx.widths(det_boxes[matched_d]) >= options.wide_box_ratio * own_width]
    if len(open_facings) and len(wide):
        fi, wi = bx.overlapping_pairs(expected[open_facings], det_boxes[match_of_facing[wide]])
        if len(fi):
            f_sel, d_sel = open_facings[fi], match_of_facing[wide[wi]]
            overlap = np.minimum(expected[f_sel, 2], det_boxes[d_sel, 2]) - np.maximum(
                expected[f_sel, 0], det_boxes[d_sel, 0]
            )
            same_level = reg.level_of_facing[f_sel] == det_level[d_sel]
            good = (overlap >= options.cover_fraction * exp_w[f_sel]) & same_level
            covered_by[f_sel[good]] = d_sel[good]
    gap_evidence = np.full(n_f, -1, dtype=np.intp)
    gap_dets = np.flatnonzero(k_gap)
    open_facings = np.flatnonzero((match_of_facing < 0) & (covered_by < 0) & visible)
    if len(open_facings) and len(gap_dets):
        fi, gi = bx.overlapping_pairs(expected[open_facings], det_boxes[gap_dets])
        if len(fi):
            share = bx.pair_intersection(
                expected[open_facings[fi]], det_boxes[gap_dets[gi]]
            ) / np.maximum(bx.area(expected[open_facings[fi]]), 1e-9)
            order = np.argsort(share)  # the best overlap is written last and wins
            for i in order:
                if share[i] >= options.gap_box_overlap:
                    gap_evidence[open_facings[fi[i]]] = gap_dets[gi[i]]
    lap("assignment")

    report = _build_report(
        planogram=planogram,
        facings=facings,
        detections=detections,
        kept=kept,
        k_top=k_top,
        reg=reg,
        expected=expected,
        expected_image=expected_image,
        visible_fraction=visible_fraction,
        visible=visible,
        det_boxes=det_boxes,
        det_level=det_level,
        match_of_facing=match_of_facing,
        match_kind=match_cost_kind,
        covered_by=covered_by,
        gap_evidence=gap_evidence,
        duplicate=duplicate,
        facing_product=facing_product,
        options=options,
    )
    lap("report")
    report.timings_ms = timings
    timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 3)
    return report


def _label_kinds(
    facing_product: np.ndarray, det_top: np.ndarray, det_plausible: list[tuple[int, ...]]
) -> np.ndarray:
    """``(facings, detections)`` match kinds: 0 planned product, 1 plausible alternative,
    2 generic "product" label, 3 another product."""
    kind = np.where(facing_product[:, None] == det_top[None, :], 0, 3).astype(np.int8)
    kind[:, det_top == GENERIC] = 2
    for j, options in enumerate(det_plausible):
        for p in options[1:]:
            kind[(facing_product == p) & (kind[:, j] == 3), j] = 1
    return kind


def _build_report(
    *,
    planogram: Planogram,
    facings: list[ExpectedFacing],
    detections: Detections,
    kept: np.ndarray,
    k_top: np.ndarray,
    reg: Registration,
    expected: np.ndarray,
    expected_image: np.ndarray,
    visible_fraction: np.ndarray,
    visible: np.ndarray,
    det_boxes: np.ndarray,
    det_level: np.ndarray,
    match_of_facing: np.ndarray,
    match_kind: np.ndarray,
    covered_by: np.ndarray,
    gap_evidence: np.ndarray,
    duplicate: np.ndarray,
    facing_product: np.ndarray,
    options: MatchOptions,
) -> ComplianceReport:
    products = planogram.products
    ids = detections.ids
    labels = detections.labels
    confidence = detections.confidence
    original = detections.xyxy
    n_f = len(facings)
    exp_w = bx.widths(expected)

    det_box = _boxes(original)
    expected_boxes = _boxes(expected_image)
    id_list = [str(x) for x in ids]
    label_list = [str(x) for x in labels]
    confidence_list = np.round(confidence, 4).tolist()
    evidence_cache: dict[int, Evidence] = {}

    def det_evidence(k: int) -> Evidence:
        if k not in evidence_cache:
            i = int(kept[k])
            evidence_cache[k] = Evidence.trusted(
                source=EvidenceSource.DETECTION,
                box=det_box[i],
                detection_id=id_list[i],
                label=label_list[i],
                confidence=confidence_list[i],
            )
        return evidence_cache[k]

    results: list[FacingResult] = []
    status_of = np.empty(n_f, dtype=object)
    found_of = np.full(n_f, -1, dtype=np.intp)  # planogram product seen in the facing
    # Plain Python values up front: per-element numpy access would dominate this loop.
    evidence_det = np.where(match_of_facing >= 0, match_of_facing, covered_by)
    safe = np.maximum(evidence_det, 0)
    shifts = (
        np.round(
            (det_boxes[safe, 0] + det_boxes[safe, 2] - expected[:, 0] - expected[:, 2]) / 2 / exp_w,
            2,
        ).tolist()
        if len(det_boxes)
        else [0.0] * n_f
    )
    evidence_list = evidence_det.tolist()
    from_cover = ((match_of_facing < 0) & (covered_by >= 0)).tolist()
    kind_list = match_kind.tolist()
    top_list = k_top.tolist()
    planned_list = facing_product.tolist()
    visible_list = visible.tolist()
    visible_share = np.round(visible_fraction, 3).tolist()
    gap_list = gap_evidence.tolist()
    kept_list = kept.tolist()
    for f_i, facing in enumerate(facings):
        expected_box = expected_boxes[f_i]
        k = evidence_list[f_i]
        via_cover = from_cover[f_i]
        shift = None
        found_product_id = found_label = None
        if k >= 0:
            evidence = det_evidence(k)
            found_label = evidence.label
            kind = kind_list[f_i] if not via_cover else _cover_kind(planned_list[f_i], top_list[k])
            shift = shifts[f_i]
            if kind == 3:
                status = FacingStatus.MISPLACED
                found = top_list[k]
                found_of[f_i] = found
                found_product_id = products[found].id if found >= 0 else None
                what = products[found].name if found >= 0 else f"{found_label!r}"
                where = "" if found >= 0 else " (not in this planogram)"
                reason = f"expected {facing.product_name}, found {what}{where}"
            else:
                status = FacingStatus.OK
                found_of[f_i] = planned_list[f_i]
                found_product_id = facing.product_id
                if kind == 0:
                    reason = "in place"
                elif kind == 1:
                    reason = (
                        f"in place: the detector's second opinion {facing.product_name!r} "
                        f"fits the plan (top label {found_label!r})"
                    )
                else:
                    reason = "a product is present; the detector does not say which"
                if abs(shift) >= 0.35:
                    side = "right" if shift > 0 else "left"
                    reason += f", shifted {abs(shift):.1f} facing to the {side}"
            if via_cover:
                reason += " (one box spans several facings)"
        elif not visible_list[f_i]:
            status = FacingStatus.NOT_VISIBLE
            evidence = Evidence.trusted(
                source=EvidenceSource.OUTSIDE_PHOTO,
                box=expected_box,
                detection_id=None,
                label=None,
                confidence=None,
            )
            reason = f"outside the photo ({visible_share[f_i]:.0%} of the facing in view)"
        elif gap_list[f_i] >= 0:
            status = FacingStatus.GAP
            g = kept_list[gap_list[f_i]]
            evidence = Evidence.trusted(
                source=EvidenceSource.GAP_DETECTION,
                box=det_box[g],
                detection_id=id_list[g],
                label=label_list[g],
                confidence=confidence_list[g],
            )
            reason = f"out of stock: the detector reports a gap where {facing.product_name} belongs"
        else:
            status = FacingStatus.GAP
            evidence = Evidence.trusted(
                source=EvidenceSource.INFERRED,
                box=expected_box,
                detection_id=None,
                label=None,
                confidence=None,
            )
            reason = f"out of stock: empty shelf space where {facing.product_name} belongs"
        status_of[f_i] = status
        results.append(
            FacingResult.trusted(
                facing_id=facing.facing_id,
                position_id=facing.position_id,
                product_id=facing.product_id,
                product_name=facing.product_name,
                fixture_id=facing.fixture_id,
                status=status,
                reason=reason,
                expected_box=expected_box,
                evidence=evidence,
                found_product_id=found_product_id,
                found_label=found_label,
                shift_facings=shift,
                visible_fraction=visible_share[f_i],
            )
        )

    # --- detections nobody claimed ---
    used = np.zeros(len(kept), dtype=bool)
    used[match_of_facing[match_of_facing >= 0]] = True
    used[covered_by[covered_by >= 0]] = True
    used_gap = np.zeros(len(kept), dtype=bool)
    used_gap[gap_evidence[gap_evidence >= 0]] = True
    is_gap = detections.is_gap[kept]
    unexpected: list[UnexpectedProduct] = []
    ignored = IgnoredDetections.trusted(
        duplicates=[str(x) for x in ids[duplicate]],
        outside_planogram=[],
        unused_gap_boxes=[str(ids[kept[k]]) for k in np.flatnonzero(is_gap & ~used_gap)],
    )
    loose = np.flatnonzero(~used & ~is_gap)
    if len(loose):
        facing_cx = bx.centers_x(expected)
        level_of_facing = reg.level_of_facing
        min_x, max_x = expected[:, 0].min(), expected[:, 2].max()
        min_y, max_y = expected[:, 1].min(), expected[:, 3].max()
        margin_x = 0.5 * float(np.median(exp_w))
        margin_y = 0.5 * float(np.median(bx.heights(expected)))
        planned_per_level: dict[tuple[int, int], int] = defaultdict(int)
        for f_i in range(n_f):
            planned_per_level[(int(level_of_facing[f_i]), int(facing_product[f_i]))] += 1
        for k in loose:
            cx = (det_boxes[k, 0] + det_boxes[k, 2]) / 2
            cy = (det_boxes[k, 1] + det_boxes[k, 3]) / 2
            i = kept[k]
            if not (
                min_x - margin_x <= cx <= max_x + margin_x
                and min_y - margin_y <= cy <= max_y + margin_y
            ):
                ignored.outside_planogram.append(str(ids[i]))
                continue
            level = det_level[k]
            candidates = np.flatnonzero(level_of_facing == level) if level >= 0 else np.arange(n_f)
            nearest = candidates[np.argmin(np.abs(facing_cx[candidates] - cx))]
            top = int(k_top[k])
            label = str(labels[i])
            if top >= 0:
                kind = UnexpectedKind.EXTRA_FACING
                planned = planned_per_level.get((int(level), top), 0) if level >= 0 else 0
                reason = (
                    f"extra facing of {products[top].name} ({planned} planned on this shelf level)"
                )
            elif top == GENERIC:
                kind = UnexpectedKind.EXTRA_FACING
                reason = "an unidentified product where no facing is planned"
            else:
                kind = UnexpectedKind.NOT_IN_PLANOGRAM
                reason = f"{label!r} is not in this planogram"
            unexpected.append(
                UnexpectedProduct.trusted(
                    detection_id=str(ids[i]),
                    label=label,
                    product_id=products[top].id if top >= 0 else None,
                    confidence=round(float(confidence[i]), 4),
                    box=det_box[i],
                    kind=kind,
                    fixture_id=facings[nearest].fixture_id,
                    reason=reason,
                )
            )

    # --- summaries and scores ---
    extras_by_fixture_product: dict[tuple[str | None, int], int] = defaultdict(int)
    for u in unexpected:
        if u.product_id is not None:
            p = next(i for i, prod in enumerate(products) if prod.id == u.product_id)
            extras_by_fixture_product[(u.fixture_id, p)] += 1
    fixture_of = np.array([f.fixture_id for f in facings], dtype=object)
    statuses = np.array([s.value for s in status_of], dtype=object)

    def scope_summary(mask: np.ndarray, fixture: str | None) -> tuple[Counts, Scores]:
        st = statuses[mask]
        counts = Counts.trusted(
            facings=int(mask.sum()),
            visible=int((st != FacingStatus.NOT_VISIBLE.value).sum()),
            ok=int((st == "ok").sum()),
            gap=int((st == "gap").sum()),
            misplaced=int((st == "misplaced").sum()),
            not_visible=int((st == "not_visible").sum()),
            unexpected=sum(1 for u in unexpected if fixture is None or u.fixture_id == fixture),
        )
        vis = mask & (statuses != FacingStatus.NOT_VISIBLE.value)
        planned = np.bincount(facing_product[vis], minlength=len(products))
        seen = np.bincount(found_of[mask & (found_of >= 0)], minlength=len(products))
        for (fx, p), n in extras_by_fixture_product.items():
            if fixture is None or fx == fixture:
                seen[p] += n
        considered = planned > 0
        scores = Scores.trusted(
            position_compliance=_share(counts.ok, counts.visible),
            availability=_share(int((seen[considered] > 0).sum()), int(considered.sum())),
            facings_compliance=_share(
                int(np.minimum(seen, planned)[considered].sum()), int(planned.sum())
            ),
        )
        return counts, scores

    everything = np.ones(n_f, dtype=bool)
    counts, scores = scope_summary(everything, None)
    fixtures: list[FixtureSummary] = []
    for fixture_id in dict.fromkeys(fixture_of.tolist()):
        f_counts, f_scores = scope_summary(fixture_of == fixture_id, fixture_id)
        fixtures.append(
            FixtureSummary.trusted(fixture_id=fixture_id, counts=f_counts, scores=f_scores)
        )
    product_summaries: list[ProductSummary] = []
    extras_by_product: dict[int, int] = defaultdict(int)
    for (_, p), n in extras_by_fixture_product.items():
        extras_by_product[p] += n
    for p, product in enumerate(products):
        mine = facing_product == p
        if not mine.any():
            continue
        st = statuses[mine]
        visible_n = int((st != "not_visible").sum())
        found = int((found_of == p).sum()) + extras_by_product.get(p, 0)
        in_place = int((st == "ok").sum())
        product_summaries.append(
            ProductSummary.trusted(
                product_id=product.id,
                product_name=product.name,
                expected=int(mine.sum()),
                visible=visible_n,
                found=found,
                in_place=in_place,
                gap=int((st == "gap").sum()),
                misplaced=int((st == "misplaced").sum()),
                scores=Scores.trusted(
                    position_compliance=_share(in_place, visible_n),
                    availability=None if visible_n == 0 else float(found > 0),
                    facings_compliance=_share(min(found, visible_n), visible_n),
                ),
            )
        )

    return ComplianceReport.trusted(
        schema_version=ComplianceReport.model_fields["schema_version"].default,
        planogram_id=planogram.id,
        planogram_name=planogram.name,
        unit=planogram.unit.value,
        image=ImageInfo.trusted(width=detections.image_width, height=detections.image_height),
        scores=scores,
        counts=counts,
        facings=results,
        unexpected=unexpected,
        products=product_summaries,
        fixtures=fixtures,
        registration=_registration_summary(reg),
        ignored=ignored,
        timings_ms={},
    )


def _cover_kind(planned: int, seen: int) -> int:
    if seen == planned:
        return 0
    return 2 if seen == GENERIC else 3


def _share(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def _registration_summary(reg: Registration) -> RegistrationSummary:
    return RegistrationSummary.trusted(
        method=reg.method,
        rotation_deg=round(math.degrees(reg.rotation_rad), 3),
        scale_x=round(reg.scale_x, 4),
        scale_y=round(reg.scale_y, 4),
        offset_x=round(reg.offset_x, 2),
        offset_y=round(reg.offset_y, 2),
        label_inliers=reg.label_inliers,
        labelled_detections=reg.labelled_detections,
        rows=[
            RowSummary.trusted(
                row=r.row,
                level=None if r.level < 0 else r.level,
                bottom_px=round(r.bottom_px, 1),
                scale_x=round(r.scale_x, 4),
                offset_x=round(r.offset_x, 2),
                detections=r.detections,
                label_inliers=r.label_inliers,
            )
            for r in reg.rows
        ],
        warnings=list(reg.warnings),
    )
