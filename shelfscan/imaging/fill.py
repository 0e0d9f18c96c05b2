"""Finding the fill around a photo's scene: black (or transparent, flattened to black) areas
joined to the frame's edge, as turning a photo in an editor, stitching a panorama or pasting a
photo onto a canvas leaves. The engine counts them as out of view
(``shelfscan.compliance.scene``).

Only near-black regions that touch the frame count, and only when together they are a
noticeable share of the photo: a dark shadow under a shelf inside the photo is scene, and a
few black pixels along an edge change nothing."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from shelfscan.compliance.scene import SceneMask

# Looked for on a copy this large (long side, pixels): fill is large and flat, detail is moot.
FILL_GRID_LONG_SIDE = 384
# A pixel is fill when no channel is brighter than this (JPEG leaves a little noise on black).
FILL_LEVEL = 6
# Fill regions smaller than this share of the photo, together, are ignored.
MIN_FILL_SHARE = 0.005
# A photo mostly black is a dark photo (lens covered, lights off), not a scene with fill
# around it: the quality check says so, and the whole frame stays in view.
MAX_FILL_SHARE = 0.5


def find_fill(pixels: np.ndarray, full_size: tuple[int, int]) -> SceneMask | None:
    """The scene mask of a photo whose (possibly reduced) pixels are ``pixels`` ``(H, W, 3)``
    uint8 in any channel order, for the full photo of ``full_size`` (width, height) pixels;
    None when the photo has no fill (the whole frame shows the scene)."""
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if not (_brightest_channel(edges) <= FILL_LEVEL).any():
        return None  # most photos: fill touches the frame, and nothing near-black does
    dark = _brightest_channel(_shrink(pixels)) <= FILL_LEVEL
    if dark.mean() < MIN_FILL_SHARE:
        return None
    labels, _ = ndimage.label(dark)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.unique(edge[edge > 0])
    fill = np.isin(labels, touching)
    if not MIN_FILL_SHARE <= fill.mean() <= MAX_FILL_SHARE:
        return None
    width, height = full_size
    return SceneMask(shows=(~fill).astype(np.float64), width=float(width), height=float(height))


def find_fill_in_image(image: Image.Image, full_size: tuple[int, int]) -> SceneMask | None:
    """:func:`find_fill` on a Pillow image, looked at on a box-reduced copy near the grid's
    size (converting every pixel of a 12 MP photo to an array would cost more than the check)."""
    step = max(1, max(image.size) // FILL_GRID_LONG_SIDE)
    small = image.reduce(step) if step > 1 else image
    return find_fill(np.asarray(small.convert("RGB")), full_size)


def _brightest_channel(pixels: np.ndarray) -> np.ndarray:
    # Pairwise maxima of the channel planes: numpy's max over a last axis of three is ~10×
    # slower (≈ 2 ms on a 384 px copy, where the whole check should cost a fraction of that).
    return np.maximum(np.maximum(pixels[..., 0], pixels[..., 1]), pixels[..., 2])


def _shrink(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    step = max(1, -(-max(height, width) // FILL_GRID_LONG_SIDE))
    if step == 1:
        return pixels
    # Every step-th pixel: fill is flat, so sampling keeps it, and it costs nothing.
    return pixels[::step, ::step]
