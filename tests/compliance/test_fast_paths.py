"""The fast paths of the engine agree with the plain ones they replace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shelfscan.compliance import boxes as bx
from shelfscan.compliance import prepared
from shelfscan.compliance.assignment import align_padded, align_rows
from shelfscan.compliance.engine import MatchOptions, match_planogram
from shelfscan.compliance.registration import _window_votes
from shelfscan.compliance.report import FacingStatus
from tests.compliance.helpers import make_planogram, shoot


def _random_boxes(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    corner = np.round(rng.uniform(0, 500, (n, 2)))
    return np.column_stack([corner, corner + np.round(rng.uniform(1, size, (n, 2)))])


@pytest.mark.parametrize("seed", range(5))
def test_touching_pairs_match_the_strtree(seed):
    rng = np.random.default_rng(seed)
    # Integer coordinates, so that many boxes share an edge: touching counts as intersecting.
    query, indexed = _random_boxes(rng, 120, 60), _random_boxes(rng, 150, 120)
    expected = set(zip(*(a.tolist() for a in bx.overlapping_pairs(query, indexed)), strict=True))
    qi, ji = bx.touching_pairs(query, indexed)
    assert set(zip(qi.tolist(), ji.tolist(), strict=True)) == expected
    assert len(expected) > 50


def _brute_window(values: np.ndarray) -> int:
    starts = np.floor(values * 4) / 4
    return max(int(((values >= s) & (values < s + 1)).sum()) for s in starts)


@pytest.mark.parametrize("spread", [0.5, 3.0, 400.0])  # the last one takes the sparse path
def test_window_votes_find_the_densest_window_per_group(spread):
    rng = np.random.default_rng(int(spread))
    groups = 12
    group = rng.integers(0, groups - 1, 400)  # the last group stays empty
    z = rng.normal(0, spread, 400)
    best, start = _window_votes(z, groups, group)
    for g in range(groups - 1):
        mine = z[group == g]
        assert best[g] == _brute_window(mine)
        assert ((mine >= start[g]) & (mine < start[g] + 1)).sum() == best[g]
    assert best[-1] == 0


def test_padded_alignment_equals_row_by_row():
    rng = np.random.default_rng(3)
    costs = [rng.uniform(0, 1, (n_f, n_d)) for n_f, n_d in ((5, 4), (3, 6), (7, 7))]
    skips = [np.full(c.shape[0], 0.6) for c in costs]
    together = align_rows(costs, skips, 0.9)
    for cost, skip, pairs in zip(costs, skips, together, strict=True):
        [alone] = align_rows([cost], [skip], 0.9)
        assert alone == pairs
        assert all(a < b for (a, _), (b, _) in itertools.pairwise(pairs))
    rows, fi, di = align_padded(
        np.full((1, 2, 2), 0.1), np.full((1, 2), 0.6), np.array([2]), np.array([2]), 0.9
    )
    assert list(zip(rows.tolist(), fi.tolist(), di.tolist(), strict=True)) == [
        (0, 0, 0),
        (0, 1, 1),
    ]


def test_planogram_preparation_is_cached_by_content():
    prepared.clear_cache()
    planogram = make_planogram([["A", "A", "B", "C"], ["D", "E", "E", "F"]])
    detections = shoot(planogram, remove={"S1-02"})
    first = match_planogram(planogram, detections)
    again = match_planogram(planogram, detections)
    assert first.timings_ms["planogram_cache_hit"] == 0.0
    assert again.timings_ms["planogram_cache_hit"] == 1.0
    assert again.model_dump(exclude={"timings_ms"}) == first.model_dump(exclude={"timings_ms"})
    # An edited planogram (C moves to the second shelf's slot of F) is prepared afresh.
    edited = planogram.model_copy(deep=True)
    edited.positions[3].product_id = "F"
    changed = match_planogram(edited, detections)
    assert changed.timings_ms["planogram_cache_hit"] == 0.0
    assert changed.facing("S1-04").status is FacingStatus.MISPLACED
    assert first.facing("S1-04").status is FacingStatus.OK
    uncached = match_planogram(planogram, detections, options=MatchOptions(cache_planogram=False))
    assert uncached.timings_ms["planogram_cache_hit"] == 0.0
    assert uncached.model_dump(exclude={"timings_ms"}) == first.model_dump(exclude={"timings_ms"})


def test_cache_stays_bounded():
    prepared.clear_cache()
    for k in range(prepared.CACHE_SIZE + 5):
        planogram = make_planogram([["A", "B"]]).model_copy(update={"id": f"bay-{k}"})
        prepared.prepare(planogram)
    assert len(prepared._cache) == prepared.CACHE_SIZE


def test_plausible_many_equals_plausible_box_by_box():
    from shelfscan.compliance.labels import LabelResolver
    from shelfscan.planogram.model import Product

    resolver = LabelResolver(
        [Product(id=f"P{i}", name=f"Item {i}", gtin=None, w=5, h=5) for i in range(6)]
    )
    rng = np.random.default_rng(1)
    names = [f"Item {i}" for i in range(8)] + ["product", "P3", "gap"]
    labels, ranked, skip = [], [], []
    for _ in range(500):
        top = str(rng.choice(names))
        alternatives = {top: float(rng.uniform())} if rng.uniform() < 0.8 else {}
        for _ in range(int(rng.integers(0, 4))):
            alternatives[str(rng.choice(names))] = float(rng.uniform() * rng.integers(0, 2))
        labels.append(top)
        ranked.append(alternatives)
        skip.append(bool(rng.uniform() < 0.1))
    for ratio in (0.0, 0.5, 1.0):
        one_by_one = [
            () if s else resolver.plausible(label, r, ratio)
            for label, r, s in zip(labels, ranked, skip, strict=True)
        ]
        assert resolver.plausible_many(labels, ranked, ratio, skip) == one_by_one
    assert any(len(p) > 1 for p in resolver.plausible_many(labels, ranked, 0.5, skip))


def test_duplicate_sweep_finds_the_pairs_the_strtree_finds():
    from shelfscan.compliance.assignment import duplicate_mask

    def reference(boxes: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        duplicate = np.zeros(len(boxes), dtype=bool)
        a, b = bx.overlapping_pairs(boxes, boxes)
        a, b = a[a < b], b[a < b]
        inter = bx.pair_intersection(boxes[a], boxes[b])
        areas = bx.area(boxes)
        same = (inter >= 0.7 * (areas[a] + areas[b] - inter)) | (
            inter >= 0.85 * np.minimum(areas[a], areas[b])
        )
        same &= inter > 0
        a, b = a[same], b[same]
        duplicate[np.where(confidence[a] >= confidence[b], b, a)] = True
        return duplicate

    rng = np.random.default_rng(0)
    found = 0
    for _ in range(50):
        boxes = _random_boxes(rng, 60, 40)
        twins = rng.integers(0, 60, 20)
        boxes = np.vstack([boxes, boxes[twins] + rng.normal(0, 1, (20, 4))])
        confidence = np.round(rng.uniform(0, 1, len(boxes)), 1)  # ties happen
        expected = reference(boxes, confidence)
        assert duplicate_mask(boxes, confidence).tolist() == expected.tolist()
        found += int(expected.sum())
    assert found > 500


def test_padded_alignment_takes_a_cost_per_detection():
    rng = np.random.default_rng(5)
    cost = rng.uniform(0, 1, (2, 6, 5))
    skips = np.full((2, 6), 0.6)
    counts_f, counts_d = np.array([6, 4]), np.array([5, 3])
    # One cost for every detection, as an array, is the scalar.
    as_scalar = align_padded(cost, skips, counts_f, counts_d, 0.9)
    as_array = align_padded(cost, skips, counts_f, counts_d, np.full((2, 5), 0.9))
    for a, b in zip(as_scalar, as_array, strict=True):
        assert a.tolist() == b.tolist()
    # A detection that costs nothing to leave out is not matched at a cost.
    cheap = np.full((2, 5), 0.9)
    cheap[0, 2] = 0.0
    cost[0, :, 2] = 0.8  # dearer than leaving a facing (0.6) and it (0.0) unmatched
    rows, _, dets = align_padded(cost, skips, counts_f, counts_d, cheap)
    assert 2 not in dets[rows == 0].tolist()
    rows_before, _, dets_before = align_padded(cost, skips, counts_f, counts_d, 0.9)
    assert 2 in dets_before[rows_before == 0].tolist()
