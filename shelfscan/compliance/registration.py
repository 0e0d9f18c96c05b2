"""Registration: from image pixels to planogram units.

The photo and the planogram are related by a mild rotation, one scale and offset per axis (the
two scales differ: phones and planograms disagree on aspect), and a little per-shelf wobble from
perspective. Registration recovers this from the detections alone, in four steps:

1. Tilt: the angle at which box bottoms line up best (products stand on shelves), refined by a
   pooled least-squares slope within the rows found at that angle. Everything after works in
   the de-rotated frame.
2. Rows and levels: detections (gap boxes too) cluster into rows by their bottom edge; the
   planogram's facings cluster into levels by theirs (a shelf, or a stacked tier on it).
3. Vertical: hypotheses ``y_px = sy * y_units + ty`` from pairs of (row, level) pairings, scored
   by how many boxes land on a level that plans their product; the winner's row-level pairing is
   made one-to-one with an optimal assignment and refitted by least squares.
4. Horizontal: every labelled box votes for offsets ``tx = x_px - sx * x_units`` towards every
   facing of its product on its level, over a grid of scales. Identical neighbours make the
   offset ambiguous by whole facings on any one shelf, but all shelves share the camera, so the
   densest vote across the whole bay settles it. The scale is then refitted with an offset of
   its own per row (shelves drift against each other), and each row is refined within half a
   facing of the global answer, which absorbs perspective and products drifting along a shelf.

The votes are histograms (``_window_votes``), not sorts, and every row is voted at once: this
runs for every photo, on a few thousand (box, facing) pairs per scale tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from shelfscan.compliance import boxes as bx


@dataclass(frozen=True)
class RegistrationOptions:
    max_tilt_deg: float = 4.0
    tilt_step_deg: float = 0.25
    # Bottoms closer than this fraction of the median box height belong to one row.
    row_split: float = 0.3
    # A row lands on a level when within this fraction of the median facing height.
    level_tolerance: float = 0.35
    # Scale search range around the size-based estimate.
    scale_range: tuple[float, float] = (0.75, 1.3)
    scale_steps: int = 10
    # Then this many scales across one coarse step either side of the best coarse scale.
    scale_refine_steps: int = 9
    # Least-squares refits of the voted scale (each re-selects every row's agreeing pairs).
    scale_refits: int = 1
    # Votes within this fraction of a facing width agree.
    vote_window: float = 0.3
    # How far (in facings) one row may sit from the bay-wide horizontal fit.
    row_freedom: float = 0.6
    row_scale_range: float = 0.08
    # Weight of a box that lands on a level without a label match (presence only).
    presence_weight: float = 0.25


@dataclass
class RowFit:
    row: int
    level: int  # -1 when the row matched no planogram level
    bottom_px: float
    scale_x: float
    offset_x: float
    detections: int
    label_inliers: int


@dataclass
class Registration:
    """How to draw each planogram facing on the photo (in the de-rotated frame)."""

    rotation_rad: float
    center: tuple[float, float]
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    level_bottom_units: np.ndarray  # (L,)
    level_of_facing: np.ndarray  # (F,)
    row_of_detection: np.ndarray  # (N,) -1: in no row
    level_of_row: np.ndarray  # (R,) -1: no level
    row_of_level: np.ndarray  # (L,) -1: no row
    level_scale_x: np.ndarray  # (L,)
    level_offset_x: np.ndarray  # (L,)
    level_bottom_px: np.ndarray  # (L,)
    rows: list[RowFit] = field(default_factory=list)
    label_inliers: int = 0
    labelled_detections: int = 0
    method: str = "detections"
    warnings: list[str] = field(default_factory=list)

    def derotate(self, boxes: np.ndarray) -> np.ndarray:
        return bx.rotate_boxes_about_centers(boxes, -self.rotation_rad, *self.center)

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Bounds in the original image of boxes drawn in the de-rotated frame."""
        return bx.rotate_boxes_bounds(boxes, self.rotation_rad, *self.center)

    def facing_boxes(self, facing_units: np.ndarray) -> np.ndarray:
        """Expected pixel boxes (de-rotated frame) of facings given in planogram units."""
        level = self.level_of_facing
        sx = self.level_scale_x[level]
        tx = self.level_offset_x[level]
        bottom_units = self.level_bottom_units[level]
        bottom_px = self.level_bottom_px[level]
        out = np.empty_like(facing_units, dtype=np.float64)
        out[:, 0] = sx * facing_units[:, 0] + tx
        out[:, 2] = sx * facing_units[:, 2] + tx
        out[:, 3] = bottom_px + self.scale_y * (facing_units[:, 3] - bottom_units)
        out[:, 1] = bottom_px + self.scale_y * (facing_units[:, 1] - bottom_units)
        return out

    def to_units_x(self, x_px: np.ndarray, level: np.ndarray) -> np.ndarray:
        return (x_px - self.level_offset_x[level]) / self.level_scale_x[level]


def cluster_1d(
    values: np.ndarray, tolerance: float, local_tolerance: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split sorted values where consecutive ones differ by more than ``tolerance``.

    With ``local_tolerance`` (one per value), two neighbours split already when they differ by
    more than the smaller of their own tolerances: boxes of small products stacked on each
    other are rows of their own, though their bottoms lie closer than the shelf's tall boxes'.

    Returns a cluster label per value (clusters numbered in ascending order) and each
    cluster's median.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    limit: float | np.ndarray = tolerance
    if local_tolerance is not None:
        local = local_tolerance[order]
        limit = np.minimum(tolerance, np.minimum(local[:-1], local[1:]))
    breaks = np.flatnonzero(np.diff(sorted_values) > limit) + 1
    labels_sorted = np.zeros(len(values), dtype=np.intp)
    labels_sorted[breaks] = 1
    labels_sorted = np.cumsum(labels_sorted)
    labels = np.empty_like(labels_sorted)
    labels[order] = labels_sorted
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(values)]])
    medians = (sorted_values[(starts + ends - 1) // 2] + sorted_values[(starts + ends) // 2]) / 2
    return labels, medians


def _close_pair_counts(rows: np.ndarray, tolerance: float) -> np.ndarray:
    """For each row of values, how many ordered pairs lie within ``tolerance``."""
    sorted_rows = np.sort(rows, axis=1)
    n_rows, n = sorted_rows.shape
    span = float(sorted_rows.max() - sorted_rows.min()) + 4 * tolerance + 1.0
    shifted = sorted_rows + (np.arange(n_rows) * span)[:, None]
    flat = shifted.ravel()
    ends = np.searchsorted(flat, flat + tolerance, side="right")
    counts = ends - np.arange(flat.size) - 1
    return counts.reshape(n_rows, n).sum(axis=1)


def estimate_tilt(product_boxes: np.ndarray, options: RegistrationOptions) -> float:
    """Angle (radians, positive = shelves run downhill to the right) of the shelf lines."""
    if len(product_boxes) < 3:
        return 0.0
    xc = bx.centers_x(product_boxes)
    bottoms = product_boxes[:, 3]
    tol = 0.08 * float(bx.median(bx.heights(product_boxes)))

    def best_angle(candidates: np.ndarray) -> float:
        projected = bottoms[None, :] - np.tan(candidates)[:, None] * (xc - xc.mean())[None, :]
        scores = _close_pair_counts(projected, tol)
        best = np.flatnonzero(scores == scores.max())
        return float(candidates[best[len(best) // 2]])

    # Coarse, then fine around the best coarse angle.
    coarse_step = 4 * options.tilt_step_deg
    coarse = np.arange(-options.max_tilt_deg, options.max_tilt_deg + 1e-9, coarse_step)
    angle = best_angle(np.deg2rad(coarse))
    fine = np.rad2deg(angle) + np.arange(-coarse_step, coarse_step + 1e-9, options.tilt_step_deg)
    angle = best_angle(np.deg2rad(fine))
    # Refine: pooled least-squares slope of bottoms within the rows seen at that angle.
    rows, _ = cluster_1d(
        bottoms - np.tan(angle) * (xc - xc.mean()),
        options.row_split * float(bx.median(bx.heights(product_boxes))),
    )
    counts = np.bincount(rows)
    keep = counts[rows] >= 3
    if keep.sum() < 3:
        return angle
    r = rows[keep]
    x, y = xc[keep], bottoms[keep]
    n = np.bincount(r).astype(float)
    mx = np.bincount(r, x) / np.maximum(n, 1)
    my = np.bincount(r, y) / np.maximum(n, 1)
    dx, dy = x - mx[r], y - my[r]
    denominator = float((dx * dx).sum())
    if denominator <= 0:
        return angle
    slope = float((dx * dy).sum()) / denominator
    refined = float(np.arctan(slope))
    return refined if abs(refined - angle) < np.deg2rad(1.0) else angle


@dataclass(frozen=True)
class PlanLevels:
    """The planogram's shelf levels (a shelf, or a stacked tier on it) and what each plans."""

    level_of_facing: np.ndarray  # (F,)
    level_bottoms: np.ndarray  # (L,) ascending, units
    planned_on_level: np.ndarray  # (P, L) bool
    # The facings of (level l, product p), in planogram order, are
    # level_product_facings[level_product_offsets[l * P + p] : ...[l * P + p + 1]].
    level_product_facings: np.ndarray
    level_product_offsets: np.ndarray
    median_facing_w: float
    median_facing_h: float


def plan_levels_of(
    facing_boxes: np.ndarray, facing_product: np.ndarray, n_products: int
) -> PlanLevels:
    median_h = float(bx.median(bx.heights(facing_boxes)))
    level_of_facing, level_bottoms = cluster_1d(facing_boxes[:, 3], 0.3 * median_h)
    planned = np.zeros((n_products, len(level_bottoms)), dtype=bool)
    planned[facing_product, level_of_facing] = True
    keys = level_of_facing * n_products + facing_product
    csr_order = np.argsort(keys, kind="stable")
    offsets = np.searchsorted(keys[csr_order], np.arange(len(level_bottoms) * n_products + 1))
    return PlanLevels(
        level_of_facing=level_of_facing,
        level_bottoms=level_bottoms,
        planned_on_level=planned,
        level_product_facings=csr_order,
        level_product_offsets=offsets,
        median_facing_w=float(bx.median(bx.widths(facing_boxes))),
        median_facing_h=median_h,
    )


def _median_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float | None:
    ok = denominator > 0
    if not ok.any():
        return None
    return float(bx.median(numerator[ok] / denominator[ok]))


def register(
    det_boxes: np.ndarray,
    det_is_gap: np.ndarray,
    det_plausible: Sequence[tuple[int, ...]],
    facing_boxes: np.ndarray,
    facing_product: np.ndarray,
    product_size: np.ndarray,
    image_size: tuple[int, int],
    options: RegistrationOptions | None = None,
    *,
    plan_levels: PlanLevels | None = None,
    left_edge_units: tuple[float, float] | None = None,
    aspect_range: tuple[float, float] | None = None,
) -> Registration:
    """Fit the pixel-to-unit relation.

    ``det_boxes`` are image pixels (products and gap boxes), ``det_plausible`` the product
    indices each box may show (empty for gaps and unknown labels), ``facing_boxes`` planogram
    units, ``product_size`` the ``(P, 2)`` planogram width/height per product;
    ``plan_levels`` what ``plan_levels_of`` derives from the planogram, when already known.
    ``left_edge_units`` ``(low, high)``: where along the bay (planogram x units) the photo's
    left edge is known to lie, e.g. from the scan's other photos (taken left to right). Only
    the bay-wide offset vote heeds it: of the offsets that repeated products make equally
    likely, the ones putting the photo elsewhere are not counted. ``None``: no prior.
    ``aspect_range`` ``(low, high)``: what ``scale_x / scale_y`` is known to be, e.g. from the
    scan's other photos; the horizontal vote then tries only scales that keep it (the rows fix
    the vertical scale well, while a photo showing a few facings per shelf leaves the
    horizontal one loose). ``None``: no prior.
    """
    options = options or RegistrationOptions()
    image_w, image_h = image_size
    center = (image_w / 2.0, image_h / 2.0)
    n_det = len(det_boxes)
    warnings: list[str] = []

    # --- levels of the planogram ---
    if plan_levels is None:
        plan_levels = plan_levels_of(facing_boxes, facing_product, product_size.shape[0])
    level_of_facing, level_bottoms = plan_levels.level_of_facing, plan_levels.level_bottoms
    median_facing_h, median_facing_w = plan_levels.median_facing_h, plan_levels.median_facing_w
    n_levels = len(level_bottoms)

    product_mask = ~det_is_gap
    n_plausible = np.fromiter((len(p) for p in det_plausible), dtype=np.intp, count=n_det)
    labelled = (n_plausible > 0) & product_mask
    # Every (box, product it may show) pair, box by box in the order of its labels.
    pair_d = np.repeat(np.arange(n_det), n_plausible)
    pair_p = np.fromiter(
        (p for ps in det_plausible for p in ps), dtype=np.intp, count=int(n_plausible.sum())
    )
    keep_pair = product_mask[pair_d]
    pair_d, pair_p = pair_d[keep_pair], pair_p[keep_pair]
    products_only = det_boxes[product_mask]

    # --- scale from sizes (first guess) ---
    top_product = np.array([p[0] if p else -1 for p in det_plausible], dtype=np.intp)
    sx0 = sy0 = None
    if labelled.any():
        sizes = product_size[top_product[labelled]]
        sx0 = _median_ratio(bx.widths(det_boxes[labelled]), sizes[:, 0])
        sy0 = _median_ratio(bx.heights(det_boxes[labelled]), sizes[:, 1])
    if (sx0 is None or sy0 is None) and len(products_only):
        sx0 = float(bx.median(bx.widths(products_only))) / median_facing_w
        sy0 = float(bx.median(bx.heights(products_only))) / median_facing_h

    if n_det == 0 or sx0 is None or sy0 is None or not product_mask.any():
        return _extent_fallback(
            facing_boxes, level_of_facing, level_bottoms, image_size, n_det, warnings
        )

    # --- tilt, then everything in the de-rotated frame ---
    angle = estimate_tilt(products_only, options)
    boxes = bx.rotate_boxes_about_centers(det_boxes, -angle, *center)
    median_det_h = float(bx.median(bx.heights(boxes[product_mask])))
    row_of_det, row_bottoms = cluster_1d(
        boxes[:, 3], options.row_split * median_det_h, options.row_split * bx.heights(boxes)
    )
    n_rows = len(row_bottoms)

    # --- vertical: rows to levels ---
    weight = _row_level_weights(
        row_of_det, n_rows, pair_d, pair_p, plan_levels.planned_on_level, options.presence_weight
    )
    sy, ty, level_of_row = _fit_vertical(
        row_bottoms, level_bottoms, weight, sy0, median_facing_h, options
    )
    row_of_level = np.full(n_levels, -1, dtype=np.intp)
    for r, lv in enumerate(level_of_row):
        if lv >= 0:
            row_of_level[lv] = r

    # --- horizontal: bay-wide vote, then per-row refinement ---
    facing_cx = (facing_boxes[:, 0] + facing_boxes[:, 2]) * 0.5
    det_cx = bx.centers_x(boxes)
    pd_, pf_ = _label_pairs(pair_d, pair_p, level_of_row[row_of_det], plan_levels)
    labelled_evidence = len(pd_) > 0
    if not labelled_evidence:
        # No label says where it belongs (e.g. the pretrained model tags everything "product"):
        # let every box vote for every facing on its level; occupancy alone decides.
        level_members = {lv: np.flatnonzero(level_of_facing == lv) for lv in range(n_levels)}
        pd_list, pf_list = [], []
        for d in np.flatnonzero(product_mask):
            lv = level_of_row[row_of_det[d]]
            if lv >= 0:
                members = level_members[int(lv)]
                pd_list.append(np.full(len(members), d))
                pf_list.append(members)
        pd_ = np.concatenate(pd_list) if pd_list else np.zeros(0, dtype=np.intp)
        pf_ = np.concatenate(pf_list) if pf_list else np.zeros(0, dtype=np.intp)
        warnings.append("no detection label names a planogram product; registered by layout")

    xd = det_cx[pd_]
    uf = facing_cx[pf_]
    if aspect_range is not None:
        low, high = aspect_range
        options = replace(options, scale_range=(low * sy / sx0, high * sy / sx0))
    sx, tx = _vote_global(
        xd,
        uf,
        pd_,
        row_of_det[pd_],
        sx0,
        median_facing_w,
        options,
        image_w,
        facing_boxes,
        left_edge_units,
    )

    # Per row: where its products agree with the bay-wide fit (within ``row_freedom``).
    pair_row = row_of_det[pd_] if len(pd_) else np.zeros(0, dtype=np.intp)
    level_mid = np.bincount(level_of_facing, facing_cx, minlength=n_levels) / np.maximum(
        np.bincount(level_of_facing, minlength=n_levels), 1
    )
    row_mid = np.where(level_of_row >= 0, level_mid[np.maximum(level_of_row, 0)], np.nan)
    row_inliers = _row_inliers(
        xd, uf, pd_, pair_row, row_mid, level_of_row >= 0, sx, tx, median_facing_w, options
    )
    # Perspective makes scale and offset vary smoothly from shelf to shelf; products do not
    # stretch, so scale follows that smooth model while each row keeps its own drift.
    a, b, c, d = _smooth_model(row_inliers, row_bottoms, xd, uf, sx, tx, median_facing_w)
    level_bottom_px = sy * level_bottoms + ty
    for lv in range(n_levels):
        if row_of_level[lv] >= 0:
            level_bottom_px[lv] = row_bottoms[row_of_level[lv]]
    level_sx = a + b * level_bottom_px
    level_tx = c + d * level_bottom_px
    rows: list[RowFit] = []
    total_inliers = 0
    row_sizes = np.bincount(row_of_det, minlength=n_rows).tolist()
    empty = np.zeros(0, dtype=np.intp)
    for r, lv, bottom in zip(
        range(n_rows), level_of_row.tolist(), row_bottoms.tolist(), strict=True
    ):
        inliers = row_inliers.get(r, empty)
        row_sx = a + b * bottom
        row_tx = c + d * bottom
        if len(inliers):
            drift = bx.median(xd[inliers] - row_sx * uf[inliers] - row_tx)
            limit = options.row_freedom * median_facing_w * row_sx
            if abs(drift) > limit:
                of_row = pair_row == r
                drift = _drift_within(
                    xd[of_row] - row_sx * uf[of_row] - row_tx,
                    limit,
                    options.vote_window * median_facing_w * row_sx,
                    otherwise=drift,
                )
            row_tx += min(max(drift, -limit), limit)
        if lv >= 0:
            level_sx[lv], level_tx[lv] = row_sx, row_tx
        if labelled_evidence:
            total_inliers += len(inliers)
        rows.append(RowFit(r, lv, bottom, float(row_sx), float(row_tx), row_sizes[r], len(inliers)))

    return Registration(
        rotation_rad=angle,
        center=center,
        scale_x=sx,
        scale_y=sy,
        offset_x=tx,
        offset_y=ty,
        level_bottom_units=level_bottoms,
        level_of_facing=level_of_facing,
        row_of_detection=row_of_det,
        level_of_row=level_of_row,
        row_of_level=row_of_level,
        level_scale_x=level_sx,
        level_offset_x=level_tx,
        level_bottom_px=level_bottom_px,
        rows=rows,
        label_inliers=total_inliers,
        labelled_detections=int(labelled.sum()),
        method="detections" if labelled_evidence else "layout",
        warnings=warnings,
    )


def _label_pairs(
    pair_d: np.ndarray,
    pair_p: np.ndarray,
    level_of_det: np.ndarray,
    plan_levels: PlanLevels,
) -> tuple[np.ndarray, np.ndarray]:
    """(detection, facing) pairs: each box with every facing of its level planning a product
    the box may show. ``pair_d``/``pair_p`` list each box's plausible products, in order."""
    level = level_of_det[pair_d]
    on_level = level >= 0
    n_products = plan_levels.planned_on_level.shape[0]
    key = level[on_level] * n_products + pair_p[on_level]
    owners = pair_d[on_level]
    offsets = plan_levels.level_product_offsets
    first, last = offsets[key], offsets[key + 1]
    sizes = last - first
    total = int(sizes.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    within = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.repeat(owners, sizes), plan_levels.level_product_facings[
        np.repeat(first, sizes) + within
    ]


def _row_level_weights(
    row_of_det: np.ndarray,
    n_rows: int,
    pair_d: np.ndarray,
    pair_p: np.ndarray,
    planned: np.ndarray,
    presence_weight: float,
) -> np.ndarray:
    """How well each row fits each level: boxes whose product the level plans, plus a little
    for every box (a shelf of unknown or wrong products is still a shelf). ``planned`` is the
    ``(products, levels)`` boolean table of what each level plans."""
    n_levels = planned.shape[1]
    hits = np.zeros((len(row_of_det), n_levels), dtype=bool)
    if len(pair_d):
        # pair_d is sorted: OR the planned-level flags of each detection's products.
        starts = np.flatnonzero(np.r_[True, pair_d[1:] != pair_d[:-1]])
        hits[pair_d[starts]] = np.logical_or.reduceat(planned[pair_p], starts, axis=0)
    per_det = hits + presence_weight
    in_row = row_of_det[None, :] == np.arange(n_rows)[:, None]
    weight = in_row @ per_det
    return weight


def _fit_vertical(
    row_bottoms: np.ndarray,
    level_bottoms: np.ndarray,
    weight: np.ndarray,
    sy0: float,
    median_facing_h: float,
    options: RegistrationOptions,
) -> tuple[float, float, np.ndarray]:
    n_rows, n_levels = weight.shape
    # One pairing plus the size-based scale: the only choice when one shelf is in view.
    r0 = np.repeat(np.arange(n_rows), n_levels)
    l0 = np.tile(np.arange(n_levels), n_rows)
    # Two pairings fix scale and offset; nearby rows and levels (1-2 rows, 1-3 levels apart)
    # suffice and keep this linear. All combinations at once, the invalid ones masked.
    dr = np.array([1, 1, 1, 2, 2, 2])
    dl = np.array([1, 2, 3, 1, 2, 3])
    r1 = np.repeat(r0, len(dr))
    l1 = np.repeat(l0, len(dl))
    r2 = r1 + np.tile(dr, len(r0))
    l2 = l1 + np.tile(dl, len(l0))
    valid = (r2 < n_rows) & (l2 < n_levels)
    r1, l1, r2, l2 = r1[valid], l1[valid], r2[valid], l2[valid]
    sy = (row_bottoms[r2] - row_bottoms[r1]) / (level_bottoms[l2] - level_bottoms[l1])
    ok = (sy > options.scale_range[0] * 0.8 * sy0) & (sy < options.scale_range[1] * sy0)
    sy_h = np.concatenate([np.full(len(r0), sy0), sy[ok]])
    ty_h = np.concatenate(
        [
            row_bottoms[r0] - sy0 * level_bottoms[l0],
            row_bottoms[r1[ok]] - sy[ok] * level_bottoms[l1[ok]],
        ]
    )
    tolerance = options.level_tolerance * median_facing_h
    # Row positions in units under each hypothesis, snapped to the nearest level.
    u = (row_bottoms[None, :] - ty_h[:, None]) / sy_h[:, None]
    nearest = _nearest_sorted(level_bottoms, u)
    residual = np.abs(u - level_bottoms[nearest])
    ok = residual <= tolerance
    gained = np.where(ok, weight[np.arange(n_rows)[None, :], nearest], 0.0)
    score = gained.sum(axis=1) - 1e-3 * np.where(ok, residual / tolerance, 0).sum(axis=1)
    best = int(np.argmax(score))
    sy, ty = float(sy_h[best]), float(ty_h[best])

    # Make the pairing one-to-one (two rows cannot stand on one level), then refit.
    u_best = (row_bottoms - ty) / sy
    allowed = np.abs(u_best[:, None] - level_bottoms[None, :]) <= tolerance
    cost = np.where(allowed, -(weight + 1.0), 0.0)
    rows_idx, levels_idx = linear_sum_assignment(cost)
    level_of_row = np.full(n_rows, -1, dtype=np.intp)
    for r, lv in zip(rows_idx, levels_idx, strict=True):
        if allowed[r, lv]:
            level_of_row[r] = lv
    paired = level_of_row >= 0
    if paired.sum() >= 2:
        u_p = level_bottoms[level_of_row[paired]]
        y_p = row_bottoms[paired]
        if np.ptp(u_p) > median_facing_h:
            sy, ty = _line_fit(u_p, y_p)
        else:
            ty = float(np.mean(y_p - sy * u_p))
    elif paired.sum() == 1:
        r = int(np.flatnonzero(paired)[0])
        ty = float(row_bottoms[r] - sy * level_bottoms[level_of_row[r]])
    return sy, ty, level_of_row


def _nearest_sorted(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(sorted_values, queries)
    idx = np.clip(idx, 1, len(sorted_values) - 1) if len(sorted_values) > 1 else np.zeros_like(idx)
    if len(sorted_values) == 1:
        return idx
    left = sorted_values[idx - 1]
    right = sorted_values[idx]
    return np.where(np.abs(queries - left) <= np.abs(queries - right), idx - 1, idx)


def _window_votes(z: np.ndarray, groups: int, group: np.ndarray, split: int = 4):
    """Densest unit-wide window of values per group, by histogram.

    ``z`` are values in window units, ``group`` their group (``0 <= group < groups``). The
    values fall into bins of ``1/split``; a window is ``split`` consecutive bins. Returns per
    group the largest count (0 for an empty group) and where that window starts (in ``z``
    units). Linear in the number of values when the histogram is small, ``n log n`` over the
    occupied bins otherwise: the vote runs over thousands of (box, facing) pairs for every
    scale and row tried, where sorting them all was most of the registration's time.
    """
    best = np.zeros(groups, dtype=np.intp)
    begin = np.zeros(groups)
    if z.size == 0:
        return best, begin
    q = np.floor(z * split).astype(np.int64)
    q_min = int(q.min())
    q -= q_min
    n_bins = int(q.max()) + split + 1  # room for a window past the last bin in every group
    if groups * n_bins <= 4 * z.size + 4096:
        counts = np.bincount(group * n_bins + q, minlength=groups * n_bins).reshape(groups, n_bins)
        running = np.zeros((groups, n_bins + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=running[:, 1:])
        window = running[:, split:] - running[:, :-split]  # starting at bins 0 .. n_bins-split
        start = np.argmax(window, axis=1)
        best = window[np.arange(groups), start]
        return best, (start + q_min) / split
    # Sparse: only occupied bins can start a best window.
    keys, counts = np.unique(group * n_bins + q, return_counts=True)
    running = np.concatenate([[0], np.cumsum(counts)])
    ends = np.searchsorted(keys, keys + split, side="left")
    window = running[ends] - running[: len(keys)]
    owner = keys // n_bins
    # The first best window of each group: sort by (group, -count, key) and take the heads.
    order = np.lexsort((keys, -window, owner))
    heads = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
    best[owner[heads]] = window[heads]
    begin[owner[heads]] = (keys[heads] - owner[heads] * n_bins + q_min) / split
    return best, begin


def _vote_global(
    xd: np.ndarray,
    uf: np.ndarray,
    pair_det: np.ndarray,
    pair_row: np.ndarray,
    sx0: float,
    median_facing_w: float,
    options: RegistrationOptions,
    image_w: int,
    facing_boxes: np.ndarray,
    left_edge_units: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Bay-wide horizontal scale and offset from (box, facing) pairs.

    The densest (scale, offset) vote over the whole bay finds the scale and settles the
    whole-facing ambiguity of repeated products (all shelves share the camera). Shelves drift
    against each other by a fraction of a facing, though, so that window holds only the rows
    that happen to agree; the scale is therefore refined by least squares with an offset of
    its own per row, over each row's densest window at the voted scale.

    With ``left_edge_units``, a pair votes only for offsets that put the photo's left edge
    (``x_px = 0``, i.e. ``-tx / scale`` units) in that range; when no pair can, the prior is
    ignored.
    """
    if len(xd) == 0:
        # Nothing to vote with: centre the planogram on the photo at the size-based scale.
        plan_mid = (facing_boxes[:, 0].min() + facing_boxes[:, 2].max()) / 2
        return sx0, image_w / 2 - sx0 * plan_mid
    row = pair_row  # row indices; rows without pairs simply count nothing
    n_rows = int(row.max()) + 1

    def allowed(tx: np.ndarray, scales: np.ndarray | float) -> np.ndarray | None:
        """Which offsets put the photo's left edge where the prior says (None: no prior)."""
        if left_edge_units is None:
            return None
        left = -tx / (scales[:, None] if isinstance(scales, np.ndarray) else scales)
        return (left >= left_edge_units[0]) & (left <= left_edge_units[1])

    def vote(scales: np.ndarray):
        tx = xd[None, :] - scales[:, None] * uf[None, :]
        window = options.vote_window * median_facing_w * scales
        # Windows differ per scale; measure each scale in its own window width.
        n = len(scales)
        group = np.repeat(np.arange(n), len(xd))
        z = (tx / window[:, None]).ravel()
        keep = allowed(tx, scales)
        if keep is not None:
            z, group = z[keep.ravel()], group[keep.ravel()]
        counts, _ = _window_votes(z, n, group)
        return counts

    # Coarse to fine over the scale: the vote is sharp enough that a fine grid everywhere
    # would only cost time.
    coarse = sx0 * np.linspace(*options.scale_range, options.scale_steps)
    score = vote(coarse)
    if left_edge_units is not None and score.max() == 0:
        # No pair can put the photo where the prior says: the prior is wrong, not the boxes.
        left_edge_units = None
        score = vote(coarse)
    g = int(np.argmax(score))
    step = coarse[1] - coarse[0] if len(coarse) > 1 else 0.02 * sx0
    scales = np.unique(
        np.concatenate(
            [
                coarse[score >= score.max()],
                coarse[g] + step * np.linspace(-1, 1, options.scale_refine_steps),
            ]
        )
    )
    score = vote(scales)
    # Prefer scales near the size-based guess among equally good ones.
    candidates = np.flatnonzero(score >= score.max())
    g = int(candidates[np.argmin(np.abs(scales[candidates] / sx0 - 1.0))])
    sx = voted = float(scales[g])
    # Each row's agreeing pairs (one per detection) refine the scale with an offset per row;
    # the windows are re-drawn at the refined scale, so a vote that locked onto a few rows
    # can move towards the scale all rows agree on.
    window_w = options.vote_window * median_facing_w
    for _ in range(options.scale_refits):
        tx_s = xd - sx * uf
        width = window_w * sx
        keep = allowed(tx_s, sx)
        if keep is None:
            _, start = _window_votes(tx_s / width, n_rows, row)
        else:
            _, start = _window_votes(tx_s[keep] / width, n_rows, row[keep])
        lo = start[row] * width
        inside = (tx_s >= lo) & (tx_s <= lo + width)
        if keep is not None:
            inside &= keep
        idx = np.flatnonzero(inside)
        _, first = np.unique(pair_det[idx], return_index=True)
        idx = idx[first]
        if len(idx) < 3:
            break
        r = row[idx]
        count = np.bincount(r, minlength=n_rows)
        u_mean = np.bincount(r, uf[idx], minlength=n_rows) / np.maximum(count, 1)
        x_mean = np.bincount(r, xd[idx], minlength=n_rows) / np.maximum(count, 1)
        du = uf[idx] - u_mean[r]
        spread = float((du * du).sum())
        if spread <= (2 * median_facing_w) ** 2:
            break
        slope = float((du * (xd[idx] - x_mean[r])).sum()) / spread
        if not 0.85 * voted < slope < 1.15 * voted:
            break
        converged = abs(slope - sx) < 1e-3 * sx
        sx = slope
        if converged:
            break
    # The bay-wide offset at that scale: the densest window over all rows.
    tx_all = xd - sx * uf
    keep = allowed(tx_all, sx)
    if keep is not None and keep.any():
        tx_all = tx_all[keep]
    width = options.vote_window * median_facing_w * sx
    _, begin = _window_votes(tx_all / width, 1, np.zeros(len(tx_all), dtype=np.intp))
    inside = (tx_all >= begin[0] * width) & (tx_all <= (begin[0] + 1) * width)
    return sx, float(bx.median(tx_all[inside]))


def _least_squares(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``lstsq`` through the normal equations: a 4x4 solve instead of an SVD, with the columns
    scaled to unit size first so that squaring the condition number stays harmless. A
    singular system (a column of zeros) falls back to ``lstsq``."""
    scale = np.abs(design).max(axis=0)
    if np.all(scale > 0):
        scaled = design / scale
        try:
            return np.linalg.solve(scaled.T @ scaled, scaled.T @ target) / scale
        except np.linalg.LinAlgError:
            pass
    return np.linalg.lstsq(design, target, rcond=None)[0]


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a*x + b`` (``np.polyfit`` costs ten times as much)."""
    mx, my = float(x.mean()), float(y.mean())
    dx = x - mx
    a = float((dx * (y - my)).sum() / (dx * dx).sum())
    return a, my - a * mx


def _drift_within(drifts: np.ndarray, limit: float, window: float, *, otherwise: float) -> float:
    """A row's drift when its agreeing pairs put it beyond the ``limit`` (its few boxes'
    labels fit the plan a whole facing off, as repeated and misplaced products can on a photo
    of part of the bay): the densest ``window`` of the row's pair ``drifts`` within the
    limit, i.e. the best alignment the bay-wide fit allows. Clamping instead would draw the
    row between two alignments, where no box stands in its facing. ``otherwise`` when no
    pair lies within the limit."""
    drifts = drifts[np.abs(drifts) <= limit]
    if len(drifts) == 0:
        return otherwise
    _, start = _window_votes(drifts / window, 1, np.zeros(len(drifts), dtype=np.intp))
    low = start[0] * window
    return float(bx.median(drifts[(drifts >= low) & (drifts <= low + window)]))


def _row_inliers(
    xd: np.ndarray,
    uf: np.ndarray,
    pair_det: np.ndarray,
    pair_row: np.ndarray,
    row_mid_units: np.ndarray,
    row_on_level: np.ndarray,
    sx: float,
    tx: float,
    median_facing_w: float,
    options: RegistrationOptions,
) -> dict[int, np.ndarray]:
    """Per row on a level, the pairs that agree on a scale and offset near the bay-wide fit
    (within ``row_freedom`` facings at the level's middle ``row_mid_units``): at most one pair
    per detection. All rows are voted together."""
    on_level = row_on_level[pair_row] if len(pair_row) else np.zeros(0, dtype=bool)
    pairs = np.flatnonzero(on_level)
    if len(pairs) == 0:
        return {int(r): np.zeros(0, dtype=np.intp) for r in np.flatnonzero(row_on_level)}
    n_rows = len(row_on_level)
    rows = pair_row[pairs]
    u_mid = row_mid_units[rows]
    predicted_mid = sx * u_mid + tx
    facing_px = median_facing_w * sx
    factors = np.linspace(1 - options.row_scale_range, 1 + options.row_scale_range, 9)
    n_s = len(factors)
    # Where each pair puts its row's middle under each scale, relative to the bay-wide fit.
    mid = (xd[pairs][None, :] - (sx * factors)[:, None] * (uf[pairs] - u_mid)[None, :]) - (
        predicted_mid[None, :]
    )
    window = options.vote_window * facing_px
    free = np.abs(mid) <= options.row_freedom * facing_px
    s_idx, p_idx = np.nonzero(free)
    group = rows[p_idx] * n_s + s_idx
    counts, start = _window_votes(mid[s_idx, p_idx] / window, n_rows * n_s, group)
    counts = counts.reshape(n_rows, n_s)
    start = start.reshape(n_rows, n_s)
    # Among equally good scales, the one nearest the bay-wide scale.
    preference = np.abs(np.arange(n_s) - (n_s - 1) / 2)
    ranked = counts * (n_s + 1) - preference[None, :]
    best_scale = np.argmax(ranked, axis=1)
    best_count = counts[np.arange(n_rows), best_scale]
    # Each pair inside its row's best window at its row's best scale; one pair per detection.
    g = best_scale[rows]
    lo = start[rows, g] * window
    m = mid[g, np.arange(len(pairs))]
    inside = free[g, np.arange(len(pairs))] & (m >= lo) & (m <= lo + window)
    inside &= best_count[rows] > 0
    idx = np.flatnonzero(inside)
    _, first = np.unique(pair_det[pairs[idx]], return_index=True)
    chosen = idx[np.sort(first)]
    chosen = chosen[np.argsort(rows[chosen], kind="stable")]
    bounds = np.searchsorted(rows[chosen], np.arange(n_rows + 1))
    return {int(r): pairs[chosen[bounds[r] : bounds[r + 1]]] for r in np.flatnonzero(row_on_level)}


def _smooth_model(
    row_inliers: dict[int, np.ndarray],
    row_bottoms: np.ndarray,
    xd: np.ndarray,
    uf: np.ndarray,
    sx: float,
    tx: float,
    median_facing_w: float,
) -> tuple[float, float, float, float]:
    """``x_px = (a + b*y) * x_units + (c + d*y)`` over all rows' agreeing pairs, with ``y``
    the row's bottom: keystone perspective (and any rotation left over) in four numbers."""
    rows_used = [r for r, idx in row_inliers.items() if len(idx) >= 2]
    if not rows_used:
        return sx, 0.0, tx, 0.0
    idx = np.concatenate([row_inliers[r] for r in rows_used])
    y = np.concatenate([np.full(len(row_inliers[r]), row_bottoms[r]) for r in rows_used])
    u, x = uf[idx], xd[idx]
    y_mid = float(np.mean(y))
    yc = y - y_mid
    if len(rows_used) >= 2 and np.ptp(y) > 0 and len(idx) >= 6:
        design = np.column_stack([u, u * yc, np.ones_like(u), yc])
    elif np.ptp(u) > 2 * median_facing_w and len(idx) >= 3:
        design = np.column_stack([u, np.zeros_like(u), np.ones_like(u), np.zeros_like(u)])
    else:
        return sx, 0.0, tx, 0.0
    keep = np.ones(len(u), dtype=bool)
    params = np.array([sx, 0.0, tx, 0.0])
    for _ in range(2):
        solution = _least_squares(design[keep], x[keep])
        residual = np.abs(design @ solution - x)
        params = solution
        keep = residual <= 0.35 * median_facing_w * sx
        if keep.sum() < 3:
            break
    a, b, c, d = (float(v) for v in params)
    scales_at_rows = a + b * (row_bottoms - y_mid)
    if not np.all((scales_at_rows > 0.8 * sx) & (scales_at_rows < 1.2 * sx)):
        return sx, 0.0, tx, 0.0
    # Back from centred y to plain y.
    return a - b * y_mid, b, c - d * y_mid, d


def _extent_fallback(
    facing_boxes: np.ndarray,
    level_of_facing: np.ndarray,
    level_bottoms: np.ndarray,
    image_size: tuple[int, int],
    n_det: int,
    warnings: list[str],
) -> Registration:
    """No products to register with: assume the photo frames the planogram exactly."""
    image_w, image_h = image_size
    x0, y0 = facing_boxes[:, 0].min(), facing_boxes[:, 1].min()
    x1, y1 = facing_boxes[:, 2].max(), facing_boxes[:, 3].max()
    sx = image_w / max(x1 - x0, 1e-9)
    sy = image_h / max(y1 - y0, 1e-9)
    tx, ty = -sx * x0, -sy * y0
    n_levels = len(level_bottoms)
    warnings.append("no product detections: assumed the photo frames the planogram exactly")
    return Registration(
        rotation_rad=0.0,
        center=(image_w / 2.0, image_h / 2.0),
        scale_x=sx,
        scale_y=sy,
        offset_x=tx,
        offset_y=ty,
        level_bottom_units=level_bottoms,
        level_of_facing=level_of_facing,
        row_of_detection=np.full(n_det, -1, dtype=np.intp),
        level_of_row=np.zeros(0, dtype=np.intp),
        row_of_level=np.full(n_levels, -1, dtype=np.intp),
        level_scale_x=np.full(n_levels, sx),
        level_offset_x=np.full(n_levels, tx),
        level_bottom_px=sy * level_bottoms + ty,
        method="image_extent",
        warnings=warnings,
    )
