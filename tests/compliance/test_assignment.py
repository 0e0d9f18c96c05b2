from __future__ import annotations

import numpy as np

from shelfscan.compliance.assignment import (
    INFEASIBLE,
    align_rows,
    assign_by_overlap,
    duplicate_mask,
)
from shelfscan.compliance.labels import GENERIC, UNKNOWN, LabelResolver
from shelfscan.compliance.registration import cluster_1d
from shelfscan.planogram.model import Product


def test_alignment_keeps_order_and_skips_the_missing_facing():
    # Planned A A B B; seen A B B slid left. Labels agree, shifts are small: one facing open.
    planned = np.array([0, 0, 1, 1])
    seen = np.array([0, 1, 1])
    shift = np.abs(np.array([0.0, 1.0, 2.0])[None, :] - np.arange(4)[:, None])
    cost = np.where(planned[:, None] == seen[None, :], 0.0, 1.0) + 0.1 * shift
    [pairs] = align_rows([cost], [np.full(4, 0.6)], 0.6)
    assert pairs == [(0, 0), (2, 1), (3, 2)]


def test_alignment_respects_infeasible_pairs_and_runs_rows_together():
    blocked = np.array([[INFEASIBLE, 0.0], [0.0, INFEASIBLE]])
    easy = np.array([[0.0]])
    first, second = align_rows([blocked, easy], [np.full(2, 0.6), np.full(1, 0.6)], 0.6)
    assert first == [(0, 1)]  # order forbids also pairing (1, 0)
    assert second == [(0, 0)]


def test_overlap_assignment_is_one_to_one():
    facings = np.array([[0, 0, 10, 10], [10, 0, 20, 10]], dtype=float)
    boxes = np.array([[1, 0, 11, 10], [9, 0, 19, 10], [50, 50, 60, 60]], dtype=float)
    assert sorted(assign_by_overlap(facings, boxes)) == [(0, 0), (1, 1)]


def test_duplicate_mask_drops_the_less_confident_twin():
    boxes = np.array([[0, 0, 10, 10], [0.5, 0, 10.5, 10], [20, 0, 30, 10]], dtype=float)
    assert duplicate_mask(boxes, np.array([0.5, 0.9, 0.9])).tolist() == [True, False, False]


def test_label_resolution():
    resolver = LabelResolver(
        [Product(id="0001", name="Chicken In A Biskit", gtin="0044000012345", w=5, h=8)]
    )
    assert resolver.resolve("chicken  in a BISKIT ") == 0
    assert resolver.resolve("0001") == 0
    assert resolver.resolve("0044000012345") == 0
    assert resolver.resolve("product") == GENERIC
    assert resolver.resolve("Ritz") == UNKNOWN
    assert resolver.plausible("Ritz", {"Ritz": 0.8, "Chicken In A Biskit": 0.5}, 0.5) == (0,)
    assert resolver.plausible("Ritz", {"Ritz": 0.8, "Chicken In A Biskit": 0.3}, 0.5) == ()


def test_cluster_1d_splits_at_gaps():
    labels, medians = cluster_1d(np.array([10.0, 300, 12, 305, 11, 600]), 20)
    assert labels.tolist() == [0, 1, 0, 1, 0, 2]
    assert medians.tolist() == [11.0, 302.5, 600.0]
