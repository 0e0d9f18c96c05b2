"""Small hand-built shelves for targeted compliance tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shelfscan.detections import Detections
from shelfscan.planogram.model import Fixture, Planogram, Position, Product

DATA = Path(__file__).parent / "data"
SAMPLE_PLANOGRAM = DATA / "sample_planogram.json"
SAMPLE_DETECTIONS = DATA / "sample_customized_recognition_result.json"

# What a human sees in sample_image.jpg (checked by eye against the photo): three empty
# facings and five facings holding another product than planned.
SAMPLE_GAPS = {"0003", "0030", "0056"}
SAMPLE_MISPLACED = {
    "0012": "Wheat Thins Sundried Hint of Salt Crackers",
    "0020": "Wheat Thins Original Crackers",
    "0021": "Wheat Thins Original Crackers",
    "0022": "Wheat Thins Original Crackers",
    "0023": "Wheat Thins Original Crackers",
}


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def make_planogram(
    shelves: list[list[str]],
    widths: dict[str, float] | None = None,
    *,
    height: float = 8.0,
    pitch: float = 12.0,
) -> Planogram:
    """Shelves listed top to bottom, each a left-to-right list of product ids (one facing each).
    Product ``X`` is named ``Product X``; widths default to 5 units."""
    widths = widths or {}
    ids = sorted({p for shelf in shelves for p in shelf})
    products = [
        Product(
            id=p, name=f"Product {p}", gtin=f"40000000000{i:02d}", w=widths.get(p, 5.0), h=height
        )
        for i, p in enumerate(ids)
    ]
    size = {p.id: p.w for p in products}
    fixtures, positions = [], []
    for s, shelf in enumerate(shelves):
        bottom = (s + 1) * pitch
        fixtures.append(Fixture(id=f"S{s + 1}", x=0, y=bottom, w=100, h=1))
        x = 1.0
        for j, p in enumerate(shelf):
            positions.append(
                Position(
                    id=f"S{s + 1}-{j + 1:02d}",
                    product_id=p,
                    fixture_id=f"S{s + 1}",
                    x=x,
                    y=bottom - height,
                )
            )
            x += size[p]
    width = max(p.x + size[p.product_id] for p in positions) + 1
    return Planogram(
        id="test",
        width=width,
        height=len(shelves) * pitch + 2,
        fixtures=fixtures,
        products=products,
        positions=positions,
    )


def shoot(
    planogram: Planogram,
    *,
    remove: set[str] = frozenset(),
    replace: dict[str, str] | None = None,
    shift: dict[str, float] | None = None,
    extra: list[tuple[str, float, str]] | None = None,
    gap_boxes: list[str] | None = None,
    scale: tuple[float, float] = (40.0, 34.0),
    offset: tuple[float, float] = (120.0, 60.0),
    angle_deg: float = 0.0,
    image: tuple[int, int] | None = None,
    label_of: dict[str, str] | None = None,
) -> Detections:
    """Photograph the planned shelf with changes: ``remove`` facings, ``replace`` a facing's
    product with a label, ``shift`` facings by some units, ``extra`` products
    ``(label, x_units, fixture_id)``, gap boxes over removed facings, a camera with per-axis
    scale, offset and rotation. Labels are product names unless ``label_of`` says otherwise."""
    replace = replace or {}
    shift = shift or {}
    label_of = label_of or {}
    products = planogram.product_by_id()
    boxes, labels, gaps = [], [], []
    for facing in planogram.facings():
        x1, y1, x2, y2 = facing.bounds
        dx = shift.get(facing.facing_id, 0.0)
        if facing.facing_id in remove:
            if gap_boxes is not None and facing.facing_id in gap_boxes:
                boxes.append((x1, y1, x2, y2))
                labels.append("gap")
                gaps.append(True)
            continue
        product = products[facing.product_id]
        label = replace.get(facing.facing_id, label_of.get(product.id, product.name))
        boxes.append((x1 + dx, y1, x2 + dx, y2))
        labels.append(label)
        gaps.append(False)
    fixtures = planogram.fixture_by_id()
    for label, x, fixture_id in extra or []:
        bottom = fixtures[fixture_id].y
        boxes.append((x, bottom - 8.0, x + 5.0, bottom))
        labels.append(label)
        gaps.append(False)
    units = np.array(boxes, dtype=float).reshape(-1, 4)
    sx, sy = scale
    tx, ty = offset
    px = units * [sx, sy, sx, sy] + [tx, ty, tx, ty]
    width = int(planogram.width * sx + 2 * tx) if image is None else image[0]
    height = int(planogram.height * sy + 2 * ty) if image is None else image[1]
    if angle_deg:
        a = np.deg2rad(angle_deg)
        cx, cy = width / 2, height / 2
        mx, my = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
        nx = cx + np.cos(a) * (mx - cx) - np.sin(a) * (my - cy)
        ny = cy + np.sin(a) * (mx - cx) + np.cos(a) * (my - cy)
        px = px + np.column_stack([nx - mx, ny - my, nx - mx, ny - my])
    keep = (px[:, 2] > 0) & (px[:, 0] < width) & (px[:, 3] > 0) & (px[:, 1] < height)
    visible = np.clip(px, 0, [width, height, width, height])
    share = ((visible[:, 2] - visible[:, 0]) * (visible[:, 3] - visible[:, 1])) / (
        (px[:, 2] - px[:, 0]) * (px[:, 3] - px[:, 1])
    )
    keep &= share >= 0.5
    idx = np.flatnonzero(keep)
    return Detections.build(
        visible[idx],
        [labels[i] for i in idx],
        [0.9] * len(idx),
        image_width=width,
        image_height=height,
        is_gap=[gaps[i] for i in idx],
        ids=[f"d{i}" for i in idx],
    )
