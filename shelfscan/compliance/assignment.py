"""Deciding which detection stands in which planogram facing.

Three tools, each for what it is best at:

* ``align_rows`` — per-shelf order alignment. Products on a shelf cannot pass through each
  other, so the detections of one row and the facings of its level are two sequences; a
  Needleman-Wunsch style dynamic programme pairs them in order, with a cost for a wrong
  product, a cost growing with displacement, and costs for leaving a facing empty (gap) or a
  detection unpaired (extra). When one product is missing and its neighbours slid into the
  space, shifting the block costs a little per facing while relabelling it would cost a
  misplacement per boundary, so the block is recognised as shifted, not misplaced. All rows run
  together, vectorised over rows and detections.
* ``assign_by_overlap`` — STRtree candidate pairs and an optimal one-to-one assignment
  (``scipy.optimize.linear_sum_assignment``) for whatever the rows left over.
* ``duplicate_mask`` — the detector sometimes boxes one product twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from shelfscan.compliance import boxes as bx

INFEASIBLE = 1e9


def align_rows(
    costs: Sequence[np.ndarray],
    skip_facing: Sequence[np.ndarray],
    skip_detection: float,
) -> list[list[tuple[int, int]]]:
    """Order-preserving alignment of each row.

    ``costs[k]`` is the ``(facings, detections)`` match cost of row ``k`` with both sequences
    sorted left to right (``INFEASIBLE`` where a pair may not match); ``skip_facing[k]`` the
    cost of leaving each facing unmatched. Returns the matched ``(facing, detection)`` index
    pairs per row.
    """
    n_rows = len(costs)
    if n_rows == 0:
        return []
    nf = np.array([c.shape[0] for c in costs])
    nd = np.array([c.shape[1] for c in costs])
    f_max, d_max = max(int(nf.max()), 1), int(nd.max())
    cost = np.full((n_rows, f_max, d_max), INFEASIBLE)
    skip = np.zeros((n_rows, f_max))
    for k, c in enumerate(costs):
        cost[k, : c.shape[0], : c.shape[1]] = c
        skip[k, : c.shape[0]] = skip_facing[k]
    rows, fi, di = align_padded(cost, skip, nf, nd, skip_detection)
    result: list[list[tuple[int, int]]] = [[] for _ in range(n_rows)]
    for k, i, j in zip(rows.tolist(), fi.tolist(), di.tolist(), strict=True):
        result[k].append((i, j))
    return result


def align_padded(
    cost: np.ndarray,
    skip: np.ndarray,
    n_facings: np.ndarray,
    n_detections: np.ndarray,
    skip_detection: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``align_rows`` on rows already padded into one ``(rows, facings, detections)`` cost
    array (padding: ``INFEASIBLE`` costs, zero skips). ``skip_detection``: the cost of leaving
    a detection unmatched, one for all or ``(rows, detections)``. Returns the matched pairs as
    arrays ``(row, facing, detection)``, ordered by row and, within a row, left to right."""
    n_rows, f_max, d_max = cost.shape
    # The table of best costs is kept minus the cost of leaving the first j detections
    # unmatched: in that frame leaving detections unmatched along the row is a plain running
    # minimum, and a facing's step takes four numpy calls. The loop runs once per facing of
    # the longest row on small arrays, where numpy's per-call overhead is the cost; which
    # choice each cell took is recovered afterwards in two whole-array compares.
    shape = (n_rows, f_max, d_max + 1)
    via_skip = np.empty(shape)
    via_match = np.full(shape, INFEASIBLE)
    before = np.empty(shape)
    after = np.empty(shape)
    # Matching j also saves leaving it unmatched (with a cost per detection, the table is kept
    # minus the running sum of those costs: the recurrence keeps the same four steps).
    skips_d = np.asarray(skip_detection, dtype=float)
    step_cost = cost - (skips_d[:, None, :] if skips_d.ndim == 2 else skips_d)
    table = np.zeros((n_rows, d_max + 1))
    for i in range(f_max):
        np.add(table, skip[:, i : i + 1], out=via_skip[:, i])
        np.add(table[:, :-1], step_cost[:, i], out=via_match[:, i, 1:])
        np.minimum(via_skip[:, i], via_match[:, i], out=before[:, i])
        np.minimum.accumulate(before[:, i], axis=1, out=after[:, i])
        table = after[:, i]
    # Per cell: 1 took the match, 2 came from the left (that detection left unmatched).
    choice = (via_match < via_skip).view(np.int8) | ((after < before - 1e-9).view(np.int8) << 1)
    stride = d_max + 1

    rows: list[int] = []
    facings: list[int] = []
    detections: list[int] = []
    for k in range(n_rows):
        i, j = int(n_facings[k]), int(n_detections[k])
        cells = choice[k].ravel().tolist()
        pairs: list[tuple[int, int]] = []
        while i > 0 and j > 0:
            step = cells[(i - 1) * stride + j]
            if step & 2:
                j -= 1
            elif step & 1:
                pairs.append((i - 1, j - 1))
                i -= 1
                j -= 1
            else:
                i -= 1
        pairs.reverse()
        rows += [k] * len(pairs)
        facings += [a for a, _ in pairs]
        detections += [b for _, b in pairs]
    return (
        np.array(rows, dtype=np.intp),
        np.array(facings, dtype=np.intp),
        np.array(detections, dtype=np.intp),
    )


def assign_by_overlap(
    facing_boxes: np.ndarray,
    det_boxes: np.ndarray,
    label_mismatch: np.ndarray | None = None,
    *,
    min_iou: float = 0.3,
    mismatch_cost: float = 0.5,
) -> list[tuple[int, int]]:
    """Optimal one-to-one pairing of facings and detections by overlap.

    Candidates come from an STRtree query; each connected group of candidates is solved on
    its own with ``linear_sum_assignment`` so that cost stays near-linear in the input size.
    ``label_mismatch`` is an optional ``(facings, detections)`` boolean matrix.
    """
    fi, di = bx.overlapping_pairs(facing_boxes, det_boxes)
    if len(fi) == 0:
        return []
    iou = bx.pair_iou(facing_boxes[fi], det_boxes[di])
    keep = iou >= min_iou
    fi, di, iou = fi[keep], di[keep], iou[keep]
    if len(fi) == 0:
        return []
    pair_cost = 1.0 - iou
    if label_mismatch is not None:
        pair_cost = pair_cost + mismatch_cost * label_mismatch[fi, di]
    n_f, n_d = len(facing_boxes), len(det_boxes)
    graph = coo_matrix((np.ones(len(fi)), (fi, n_f + di)), shape=(n_f + n_d, n_f + n_d))
    _, component = connected_components(graph, directed=False)
    pair_component = component[fi]
    order = np.argsort(pair_component, kind="stable")
    bounds = np.flatnonzero(np.diff(pair_component[order])) + 1
    result: list[tuple[int, int]] = []
    for group in np.split(order, bounds):
        g_f, f_local = np.unique(fi[group], return_inverse=True)
        g_d, d_local = np.unique(di[group], return_inverse=True)
        matrix = np.full((len(g_f), len(g_d)), INFEASIBLE)
        matrix[f_local, d_local] = pair_cost[group]
        rows, cols = linear_sum_assignment(matrix)
        for r, c in zip(rows, cols, strict=True):
            if matrix[r, c] < INFEASIBLE:
                result.append((int(g_f[r]), int(g_d[c])))
    return result


def duplicate_mask(
    boxes: np.ndarray, confidence: np.ndarray, *, iou: float = 0.7, containment: float = 0.85
) -> np.ndarray:
    """True for boxes that repeat a more confident box (IoU or containment above threshold)."""
    n = len(boxes)
    duplicate = np.zeros(n, dtype=bool)
    if n < 2:
        return duplicate
    # Sort and sweep along x: each box against the boxes starting before it ends.
    order = np.argsort(boxes[:, 0], kind="stable")
    x1 = boxes[order, 0]
    last = np.searchsorted(x1, boxes[order, 2], side="right")
    counts = np.maximum(last - np.arange(1, n + 1), 0)
    total = int(counts.sum())
    if total == 0:
        return duplicate
    first = np.repeat(np.arange(n), counts)
    second = first + 1 + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    a, b = order[first], order[second]
    a, b = np.minimum(a, b), np.maximum(a, b)
    inter = bx.pair_intersection(boxes[a], boxes[b])
    areas = bx.area(boxes)
    union = areas[a] + areas[b] - inter
    smaller = np.minimum(areas[a], areas[b])
    same = ((inter >= iou * union) | (inter >= containment * smaller)) & (inter > 0)
    a, b = a[same], b[same]
    # The less confident of each pair goes (ties: the later one).
    loser = np.where(confidence[a] >= confidence[b], b, a)
    duplicate[loser] = True
    return duplicate
