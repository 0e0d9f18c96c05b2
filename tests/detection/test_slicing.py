from __future__ import annotations

import numpy as np
import pytest

from shelfscan.detection.slicing import (
    SlicingConfig,
    cut_by_window_edge,
    merge_boxes,
    overlaps,
    tile_windows,
)


def test_tiles_cover_the_image_with_the_requested_overlap():
    windows = tile_windows(4000, 3000, 1024, 0.25)
    # Every pixel is covered.
    covered = np.zeros((3000, 4000), dtype=bool)
    for x1, y1, x2, y2 in windows:
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    # Tiles are full size and stay inside the image; neighbours overlap by at least 25 %.
    assert ((windows[:, 2] - windows[:, 0]) == 1024).all()
    assert ((windows[:, 3] - windows[:, 1]) == 1024).all()
    xs = np.unique(windows[:, 0])
    assert xs[-1] + 1024 == 4000
    assert (np.diff(xs) <= 1024 * 0.75).all()


def test_image_smaller_than_a_tile_is_one_window():
    np.testing.assert_array_equal(tile_windows(500, 300, 1024, 0.2), [[0, 0, 500, 300]])


def test_config_validates():
    with pytest.raises(ValueError, match="overlap"):
        SlicingConfig(overlap=1.0)
    assert SlicingConfig(min_image_side=2000).applies_to(4000, 3000)
    assert not SlicingConfig(min_image_side=2000).applies_to(1600, 1200)


def test_cut_detection_ignores_image_borders():
    window = np.array([1000, 0, 2024, 1024])
    boxes = np.array(
        [
            [1000, 100, 1100, 200],  # touches the interior left edge: cut
            [1500, 0, 1600, 100],  # touches the top, which is the image border: whole
            [1500, 500, 1600, 600],  # inside: whole
            [1900, 500, 2024, 600],  # touches the interior right edge: cut
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(
        cut_by_window_edge(boxes, window, 4000, 3000, 2.0), [True, False, False, True]
    )


def test_overlaps():
    iou, ios = overlaps(np.array([0, 0, 10, 10.0]), np.array([[0, 0, 10, 10], [0, 0, 5, 10.0]]))
    np.testing.assert_allclose(iou, [1.0, 0.5])
    np.testing.assert_allclose(ios, [1.0, 1.0])


def test_whole_box_beats_a_higher_scoring_fragment_of_the_same_item():
    boxes = np.array([[100, 100, 200, 300], [100, 100, 160, 300], [400, 100, 500, 300]], float)
    scores = np.array([0.7, 0.9, 0.8])
    cut = np.array([False, True, False])
    keep = merge_boxes(boxes, scores, cut=cut)
    assert sorted(keep.tolist()) == [0, 2]


def test_tight_neighbours_on_a_dense_shelf_both_survive():
    # Adjacent facings touching with a sliver of overlap are different items.
    boxes = np.array([[0, 0, 50, 100], [48, 0, 98, 100], [96, 0, 146, 100]], float)
    keep = merge_boxes(boxes, np.array([0.9, 0.8, 0.7]))
    assert sorted(keep.tolist()) == [0, 1, 2]


def test_duplicates_from_overlapping_tiles_collapse_to_the_best():
    boxes = np.array([[10, 10, 60, 110], [11, 9, 61, 111], [12, 10, 60, 112]], float)
    keep = merge_boxes(boxes, np.array([0.6, 0.95, 0.7]))
    assert keep.tolist() == [1]


def test_class_aware_merging_keeps_other_classes():
    boxes = np.array([[10, 10, 60, 110], [10, 10, 60, 110]], float)
    keep = merge_boxes(boxes, np.array([0.9, 0.8]), classes=np.array([0, 1]))
    assert sorted(keep.tolist()) == [0, 1]


def test_merge_of_nothing():
    assert merge_boxes(np.zeros((0, 4)), np.zeros(0)).size == 0
