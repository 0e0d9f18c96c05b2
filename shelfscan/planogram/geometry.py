"""Planogram facings as arrays and Shapely geometries, built in one vectorised step.

Matching and validation both need every facing's rectangle; building them with
``shapely.box`` on whole arrays keeps large planograms (thousands of facings) cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from shelfscan.planogram.model import ExpectedFacing, Planogram


def facing_bounds(facings: Sequence[ExpectedFacing]) -> np.ndarray:
    """``(n, 4)`` float array of ``xmin, ymin, xmax, ymax`` in planogram units."""
    if not facings:
        return np.zeros((0, 4), dtype=float)
    bounds = np.array([(f.x, f.y, f.w, f.h) for f in facings], dtype=float)
    bounds[:, 2] += bounds[:, 0]
    bounds[:, 3] += bounds[:, 1]
    return bounds


def boxes_from_bounds(bounds: np.ndarray) -> np.ndarray:
    """Shapely polygons, one per row of an ``(n, 4)`` bounds array."""
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    return shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])


def facing_polygons(planogram: Planogram) -> tuple[list[ExpectedFacing], np.ndarray]:
    """Every facing of ``planogram`` and its expected rectangle as a Shapely polygon.

    The two sequences are aligned: ``polygons[i]`` is the rectangle of ``facings[i]``.
    """
    facings = planogram.facings()
    return facings, boxes_from_bounds(facing_bounds(facings))


def fixture_bounds(planogram: Planogram) -> np.ndarray:
    """``(n, 4)`` bounds of the planogram's fixtures, in fixture order."""
    if not planogram.fixtures:
        return np.zeros((0, 4), dtype=float)
    bounds = np.array([(f.x, f.y, f.w, f.h) for f in planogram.fixtures], dtype=float)
    bounds[:, 2] += bounds[:, 0]
    bounds[:, 3] += bounds[:, 1]
    return bounds
