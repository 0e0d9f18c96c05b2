"""Sliced inference for large photos: overlapping tiles in, one set of boxes out.

A 12-megapixel phone photo of a dense bay holds hundreds of facings a few dozen pixels wide
once the whole photo is shrunk to the network's 640–1280 px input. Tiling keeps each facing
at a useful size; the overlap makes every facing that is smaller than it appear whole in at
least one tile. Merging then keeps, for each physical item, one box — preferring boxes that
were not cut by an interior tile edge, since a cut box is only part of the item.

Pure numpy: no torch, no ultralytics, so it is unit-testable and reusable by any backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlicingConfig:
    tile_size: int = 1024
    overlap: float = 0.25
    # Only photos whose longer side exceeds this are sliced; smaller ones go through whole.
    min_image_side: int = 2000
    # Also run the whole photo once, so items bigger than the overlap are found whole.
    include_full_image: bool = True
    iou_threshold: float = 0.5
    # Intersection over the smaller box: a fragment lying inside a whole box is a duplicate.
    containment_threshold: float = 0.8
    # A box within this many pixels of an interior tile edge counts as cut by it.
    edge_margin_px: float = 2.0

    def __post_init__(self) -> None:
        if self.tile_size < 32:
            raise ValueError(f"tile_size must be at least 32 px, got {self.tile_size}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    def applies_to(self, width: int, height: int) -> bool:
        return max(width, height) > self.min_image_side


def _axis_starts(length: int, tile: int, overlap: float) -> np.ndarray:
    if length <= tile:
        return np.array([0])
    stride = max(1, int(tile * (1.0 - overlap)))
    starts = np.arange(0, length - tile, stride)
    # The last tile ends exactly at the border instead of running off it.
    return np.append(starts, length - tile)


def tile_windows(width: int, height: int, tile_size: int, overlap: float) -> np.ndarray:
    """(K, 4) integer windows ``x1, y1, x2, y2`` covering the image, row-major."""
    xs = _axis_starts(width, tile_size, overlap)
    ys = _axis_starts(height, tile_size, overlap)
    grid_x, grid_y = np.meshgrid(xs, ys)
    x1, y1 = grid_x.ravel(), grid_y.ravel()
    return np.column_stack(
        [x1, y1, np.minimum(x1 + tile_size, width), np.minimum(y1 + tile_size, height)]
    ).astype(np.int64)


def cut_by_window_edge(
    xyxy: np.ndarray, window: np.ndarray, width: int, height: int, margin: float
) -> np.ndarray:
    """Which boxes (image coordinates, found in ``window``) touch an edge of the window that is
    not also an edge of the image — i.e. the item probably continues outside the tile."""
    x1, y1, x2, y2 = (xyxy[:, i] for i in range(4))
    wx1, wy1, wx2, wy2 = (float(v) for v in window)
    return (
        ((x1 <= wx1 + margin) & (wx1 > 0))
        | ((y1 <= wy1 + margin) & (wy1 > 0))
        | ((x2 >= wx2 - margin) & (wx2 < width))
        | ((y2 >= wy2 - margin) & (wy2 < height))
    )


def _areas(xyxy: np.ndarray) -> np.ndarray:
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def overlaps(box: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(IoU, intersection over the smaller area) of one box against many."""
    ix1 = np.maximum(box[0], others[:, 0])
    iy1 = np.maximum(box[1], others[:, 1])
    ix2 = np.minimum(box[2], others[:, 2])
    iy2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = _areas(box[None, :])[0]
    other_areas = _areas(others)
    union = area + other_areas - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    smaller = np.minimum(area, other_areas)
    ios = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    return iou, ios


def merge_boxes(
    xyxy: np.ndarray,
    scores: np.ndarray,
    *,
    cut: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    iou_threshold: float = 0.5,
    containment_threshold: float = 0.8,
) -> np.ndarray:
    """Greedy non-maximum suppression across tiles; returns indices of the boxes kept.

    Uncut boxes are considered before cut ones (then by score), so a whole item beats its
    fragments even when a fragment scored higher. A box is suppressed by a kept one when their
    IoU or their containment reaches the threshold. With ``classes`` suppression only happens
    within a class; without, across classes (one physical item, one box).
    """
    count = len(xyxy)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    xyxy = np.asarray(xyxy, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    cut = np.zeros(count, dtype=bool) if cut is None else np.asarray(cut, dtype=bool)
    order = np.lexsort((-scores, cut))  # primary key last: uncut first, then by score
    alive = np.ones(count, dtype=bool)
    kept: list[int] = []
    for position, index in enumerate(order):
        if not alive[index]:
            continue
        kept.append(int(index))
        rest = order[position + 1 :]
        rest = rest[alive[rest]]
        if rest.size == 0:
            break
        iou, ios = overlaps(xyxy[index], xyxy[rest])
        duplicate = (iou >= iou_threshold) | (ios >= containment_threshold)
        if classes is not None:
            duplicate &= classes[rest] == classes[index]
        alive[rest[duplicate]] = False
    return np.asarray(kept, dtype=np.int64)
