"""Which part of a photo shows the shelf: the frame, less any fill that shows nothing.

A photo straightened or turned in an editor, a panorama stitched from several shots, or a
screenshot pasted onto a canvas carries flat black (or transparent) fill where no camera
pixel is. The detector finds nothing there, so a facing drawn onto the fill would be judged
a gap although nobody has seen that stretch of shelf. :class:`SceneMask` says which cells of
a grid laid over the photo show the scene; the engine counts only those towards a facing's
share in view, so a facing on the fill is "not visible", as one beyond the frame is.

Pure numpy: the mask is found by an adapter (``shelfscan.imaging.fill``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneMask:
    """``shows[row, col]`` is the share (0..1) of that grid cell that shows the scene; the
    grid covers the whole ``width`` × ``height`` photo (full-photo pixels), each cell
    ``width / cols`` × ``height / rows`` pixels."""

    shows: np.ndarray
    width: float
    height: float

    def __post_init__(self) -> None:
        if self.shows.ndim != 2 or min(self.shows.shape) < 1:
            raise ValueError(f"a scene mask is a 2-d grid, got shape {self.shows.shape}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"a scene mask covers a photo, got {self.width}×{self.height}")

    @property
    def shown_share(self) -> float:
        """Share of the whole photo that shows the scene."""
        return float(self.shows.mean())

    def area_shown(self, xyxy: np.ndarray) -> np.ndarray:
        """Pixels of each box ``(N, 4)`` (full-photo pixels, may reach past the frame) that
        lie inside the frame on the scene: exact for the cell grid, boxes cut cells too."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        rows, cols = self.shows.shape
        # Summed-area table: integral[r, c] = cells above row r and left of column c. The
        # integral of a cell-wise constant function is bilinear inside each cell, so bilinear
        # interpolation of the table gives it exactly at any real position.
        integral = np.zeros((rows + 1, cols + 1))
        integral[1:, 1:] = np.cumsum(np.cumsum(self.shows, axis=0), axis=1)
        u = np.clip(boxes[:, [0, 2]] * (cols / self.width), 0, cols)
        v = np.clip(boxes[:, [1, 3]] * (rows / self.height), 0, rows)

        def integral_at(uu: np.ndarray, vv: np.ndarray) -> np.ndarray:
            c0 = np.minimum(np.floor(uu).astype(np.intp), cols - 1)
            r0 = np.minimum(np.floor(vv).astype(np.intp), rows - 1)
            fu, fv = uu - c0, vv - r0
            top = integral[r0, c0] * (1 - fu) + integral[r0, c0 + 1] * fu
            bottom = integral[r0 + 1, c0] * (1 - fu) + integral[r0 + 1, c0 + 1] * fu
            return top * (1 - fv) + bottom * fv

        cells = (
            integral_at(u[:, 1], v[:, 1])
            - integral_at(u[:, 0], v[:, 1])
            - integral_at(u[:, 1], v[:, 0])
            + integral_at(u[:, 0], v[:, 0])
        )
        cell_area = (self.width / cols) * (self.height / rows)
        return np.maximum(cells, 0.0) * cell_area
