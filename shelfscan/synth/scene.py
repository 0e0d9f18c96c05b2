"""Render shelf photos from planograms with exact labels and per-facing truth.

A render is built flat in planogram space (one canvas pixel grid per planogram unit scale), with
real-world deviations drawn in (gaps, misplaced, extra, turned, pulled-forward and pushed-back
products, neighbouring bays, side panels), then photographed: a random homography (perspective,
rotation, zoom), occluders, lighting, colour cast, blur, sensor noise and JPEG artefacts. Every
box goes through the same homography as the pixels, so labels stay exact.

Pure numpy/Pillow: no torch, no ultralytics.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shelfscan.detections import Detections
from shelfscan.planogram.model import ExpectedFacing, FixtureType, Planogram, Product
from shelfscan.synth.packaging import render_placeholder

FOREIGN_PREFIX = "foreign-"


class FacingStatus(StrEnum):
    OK = "ok"  # the expected product is there
    GAP = "gap"  # nothing there
    MISPLACED = "misplaced"  # another product stands in its place


class ObjectRole(StrEnum):
    FACING = "facing"  # the expected product in its facing
    MISPLACED = "misplaced"  # a catalogue product standing in another product's facing
    UNEXPECTED = "unexpected"  # a product where the planogram has no facing
    NEIGHBOUR = "neighbour"  # a product in a neighbouring bay, outside the planogram


@dataclass(frozen=True)
class SceneConfig:
    """Rates are per facing unless said otherwise; magnitudes are upper bounds."""

    image_size: int = 640  # longest side of the output image, pixels
    gap_rate: float = 0.06
    misplace_rate: float = 0.05
    unexpected_rate: float = 0.5  # per free shelf span wide enough for a product
    foreign_rate: float = 0.4  # share of unexpected/neighbour products not in the catalogue
    turn_rate: float = 0.04
    pull_forward_rate: float = 0.06
    push_back_rate: float = 0.04
    neighbour_rate: float = 0.6  # per side: chance that a neighbouring bay shows
    side_panel_rate: float = 0.5
    position_jitter: float = 0.04  # fraction of product width
    perspective: float = 0.05  # corner displacement, fraction of image size
    rotation_deg: float = 3.0
    zoom: tuple[float, float] = (0.95, 1.15)
    occlusion_rate: float = 0.25  # per image
    lighting: float = 0.25
    colour_cast: float = 0.12
    blur_max: float = 1.2  # Gaussian radius at output scale
    noise_max: float = 6.0  # sensor noise sigma, 8-bit levels
    jpeg_quality: tuple[int, int] = (45, 95)
    min_visible: float = 0.5  # boxes less visible than this (cut by the frame) are dropped

    @classmethod
    def clean(cls, image_size: int = 640) -> SceneConfig:
        """No deviations and no photographic degradation: the planogram as drawn."""
        return cls(
            image_size=image_size,
            gap_rate=0,
            misplace_rate=0,
            unexpected_rate=0,
            turn_rate=0,
            pull_forward_rate=0,
            push_back_rate=0,
            neighbour_rate=0,
            side_panel_rate=0,
            position_jitter=0,
            perspective=0,
            rotation_deg=0,
            zoom=(1.0, 1.0),
            occlusion_rate=0,
            lighting=0,
            colour_cast=0,
            blur_max=0,
            noise_max=0,
            jpeg_quality=(95, 95),
        )


@dataclass
class SceneObject:
    """One labelled product in the rendered image."""

    product_id: str
    xyxy: tuple[float, float, float, float]  # output image pixels
    role: ObjectRole
    facing_id: str | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def is_foreign(self) -> bool:
        return self.product_id.startswith(FOREIGN_PREFIX)


@dataclass
class FacingTruth:
    facing_id: str
    position_id: str
    expected_product_id: str
    status: FacingStatus
    actual_product_id: str | None
    xyxy: tuple[float, float, float, float] | None  # where the facing is in the image
    in_frame: bool = True
    flags: list[str] = field(default_factory=list)


@dataclass
class RenderedScene:
    image: Image.Image
    planogram_id: str
    objects: list[SceneObject]
    facings: list[FacingTruth]
    # Planogram units -> image pixels, for checking registration end to end.
    homography: np.ndarray

    def truth_detections(self, names: Mapping[str, str] | None = None) -> Detections:
        """The labelled products as perfect detections (label = product name when ``names``
        maps product id -> name, else the product id)."""
        names = names or {}
        return Detections.build(
            [o.xyxy for o in self.objects],
            [names.get(o.product_id, o.product_id) for o in self.objects],
            [1.0] * len(self.objects),
            image_width=self.image.width,
            image_height=self.image.height,
        )

    def truth_document(self) -> dict[str, Any]:
        """JSON-ready ground truth, written next to each dataset image."""
        return {
            "planogram_id": self.planogram_id,
            "image": {"width": self.image.width, "height": self.image.height},
            "homography_units_to_pixels": self.homography.round(6).tolist(),
            "objects": [
                {
                    "product_id": o.product_id,
                    "xyxy": [round(v, 2) for v in o.xyxy],
                    "role": o.role.value,
                    "facing_id": o.facing_id,
                    "flags": o.flags,
                }
                for o in self.objects
            ],
            "facings": [
                {
                    "facing_id": f.facing_id,
                    "position_id": f.position_id,
                    "expected_product_id": f.expected_product_id,
                    "status": f.status.value,
                    "actual_product_id": f.actual_product_id,
                    "xyxy": None if f.xyxy is None else [round(v, 2) for v in f.xyxy],
                    "in_frame": f.in_frame,
                    "flags": f.flags,
                }
                for f in self.facings
            ],
            "summary": {
                status.value: sum(f.status is status for f in self.facings)
                for status in FacingStatus
            }
            | {"unexpected": sum(o.role is ObjectRole.UNEXPECTED for o in self.objects)},
        }


# --------------------------------------------------------------------------------------------
# geometry helpers


def homography_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking four ``src`` points onto four ``dst`` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    params = np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float))
    return np.append(params, 1.0).reshape(3, 3)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    return pts[:, :2] / pts[:, 2:3]


def _boxes_through(matrix: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes around each (N, 4) xyxy box after the homography."""
    if len(boxes) == 0:
        return np.zeros((0, 4))
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.column_stack(c) for c in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))], 1)
    warped = apply_homography(matrix, corners.reshape(-1, 2)).reshape(-1, 4, 2)
    return np.column_stack([warped.min(1), warped.max(1)])


# --------------------------------------------------------------------------------------------
# the renderer


@dataclass
class _Placed:
    product_id: str
    box: tuple[float, float, float, float]  # canvas pixels
    role: ObjectRole
    facing_id: str | None
    flags: list[str]


class ShelfRenderer:
    """Renders random shelf photos of the given planograms.

    ``faces`` maps product id -> front-face image (see ``load_front_faces``); products without
    one get placeholder packaging. Catalogue products are the union of the planograms' products.
    """

    def __init__(
        self,
        planograms: Sequence[Planogram],
        faces: Mapping[str, Image.Image] | None = None,
        config: SceneConfig | None = None,
        *,
        foreign_products: int = 24,
    ) -> None:
        if not planograms:
            raise ValueError("ShelfRenderer needs at least one planogram")
        self.planograms = list(planograms)
        self.config = config or SceneConfig()
        self.catalogue: dict[str, Product] = {}
        for planogram in self.planograms:
            for product in planogram.products:
                self.catalogue.setdefault(product.id, product)
        self.faces: dict[str, Image.Image] = dict(faces or {})
        for product in self.catalogue.values():
            if product.id not in self.faces:
                self.faces[product.id] = render_placeholder(product, height_px=256)
        self._facings = {p.id: p.facings() for p in self.planograms}
        self._eye_level, self._floor = float("inf"), 1.0  # set per render
        # Products from outside the catalogue, for neighbouring bays and unexpected items.
        sizes = np.array([[p.w, p.h] for p in self.catalogue.values()], float)
        rng = np.random.default_rng(12345)
        self.foreign: list[Product] = []
        for i in range(foreign_products):
            w, h = sizes[rng.integers(len(sizes))] * rng.uniform(0.7, 1.3, 2)
            product = Product(
                id=f"{FOREIGN_PREFIX}{i}",
                name=f"Brand{i} Item {i * 7 % 13}",
                w=float(w),
                h=float(h),
            )
            self.foreign.append(product)
            self.faces[product.id] = render_placeholder(product, height_px=192)

    # ---- public

    def render(
        self, rng: np.random.Generator | int | None = None, planogram: Planogram | None = None
    ) -> RenderedScene:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        planogram = planogram or self.planograms[int(rng.integers(len(self.planograms)))]
        cfg = self.config
        facings = self._facings[planogram.id]

        # Canvas in planogram units: the bay plus neighbouring bays and some floor/ceiling.
        left = planogram.width * rng.uniform(0.05, 0.25) if rng.random() < cfg.neighbour_rate else 0
        right = (
            planogram.width * rng.uniform(0.05, 0.25) if rng.random() < cfg.neighbour_rate else 0
        )
        top = planogram.height * rng.uniform(0.0, 0.06)
        bottom = planogram.height * rng.uniform(0.0, 0.06)
        units_w, units_h = planogram.width + left + right, planogram.height + top + bottom
        scale = cfg.image_size / max(units_w, units_h)  # canvas px per unit, at output size
        supersample = 2.0
        px = scale * supersample
        canvas_size = (max(8, round(units_w * px)), max(8, round(units_h * px)))

        def to_px(x: float, y: float) -> tuple[float, float]:
            return (x + left) * px, (y + top) * px

        canvas = self._background(canvas_size, rng)
        shade = np.ones((canvas_size[1], canvas_size[0]), np.float32)
        draw = ImageDraw.Draw(canvas)
        placed: list[_Placed] = []
        truths: dict[str, FacingTruth] = {}
        # The camera's height: packs below it show their top face, which labels include.
        self._eye_level = planogram.height * float(rng.uniform(0.2, 0.6))
        self._floor = planogram.height

        fixtures = sorted(planogram.fixtures, key=lambda f: f.y)
        # Products stand on shelves; pegs and bars only hold what the planogram hangs there.
        shelves = [f for f in fixtures if f.type is FixtureType.SHELF]
        # Shadow under each shelf edge: the shelf above blocks the ceiling light.
        for fixture in shelves:
            _, y_px = to_px(0, fixture.y + fixture.h)
            depth = int(rng.uniform(0.01, 0.035) * planogram.height * px)
            ramp = np.linspace(rng.uniform(0.45, 0.75), 1.0, max(depth, 1), dtype=np.float32)
            y0 = int(y_px)
            y1 = min(canvas_size[1], y0 + len(ramp))
            if y1 > y0:
                shade[y0:y1] = np.minimum(shade[y0:y1], ramp[: y1 - y0, None])

        # Facings, with deviations.
        catalogue_ids = list(self.catalogue)
        for facing in facings:
            roll = rng.random()
            status, actual = FacingStatus.OK, facing.product_id
            if roll < cfg.gap_rate:
                status, actual = FacingStatus.GAP, None
            elif roll < cfg.gap_rate + cfg.misplace_rate and len(catalogue_ids) > 1:
                other = self._substitute(facing, rng)
                if other is not None:
                    status, actual = FacingStatus.MISPLACED, other
            flags: list[str] = []
            box = None
            if actual is not None:
                product = self.catalogue[actual]
                w, h = (
                    (facing.w, facing.h)
                    if actual == facing.product_id
                    else (product.w * min(1.0, facing.w / product.w), product.h)
                )
                box, flags = self._place(
                    canvas, draw, actual, facing.x, facing.y + facing.h, w, h, to_px, px, rng
                )
                placed.append(
                    _Placed(
                        actual,
                        box,
                        ObjectRole.FACING if status is FacingStatus.OK else ObjectRole.MISPLACED,
                        facing.facing_id,
                        flags,
                    )
                )
            truths[facing.facing_id] = FacingTruth(
                facing_id=facing.facing_id,
                position_id=facing.position_id,
                expected_product_id=facing.product_id,
                status=status,
                actual_product_id=actual,
                xyxy=None,
                flags=list(flags),
            )

        # Unexpected products in free shelf space, and neighbouring bays beyond the edges.
        for fixture in shelves:
            for x0, x1 in self._free_spans(planogram, facings, fixture.id):
                self._fill_span(
                    canvas,
                    draw,
                    placed,
                    x0,
                    x1,
                    fixture.y,
                    to_px,
                    px,
                    rng,
                    ObjectRole.UNEXPECTED,
                    cfg.unexpected_rate,
                )
            if left > 0:
                # Starts past the frame's left edge so that the frame cuts a product there.
                self._fill_span(
                    canvas,
                    draw,
                    placed,
                    -left - planogram.width * 0.1,
                    -left * 0.05,
                    fixture.y,
                    to_px,
                    px,
                    rng,
                    ObjectRole.NEIGHBOUR,
                    0.95,
                    dense=True,
                )
            if right > 0:
                self._fill_span(
                    canvas,
                    draw,
                    placed,
                    planogram.width + right * 0.05,
                    planogram.width + right * 1.5,
                    fixture.y,
                    to_px,
                    px,
                    rng,
                    ObjectRole.NEIGHBOUR,
                    0.95,
                    dense=True,
                )

        # Shelf edges with price rails, spanning neighbouring bays too.
        for fixture in fixtures:
            self._shelf_edge(draw, fixture, left, right, planogram, to_px, px, rng, facings)
        self._side_panels(draw, planogram, left, right, top, bottom, to_px, px, rng, shade)

        canvas_arr = np.asarray(canvas, np.float32) * shade[..., None]
        canvas = Image.fromarray(np.clip(canvas_arr, 0, 255).astype(np.uint8))
        canvas = canvas.resize(
            (
                max(8, round(canvas_size[0] / supersample)),
                max(8, round(canvas_size[1] / supersample)),
            ),
            Image.Resampling.LANCZOS,
        )

        # Photograph it: canvas (output scale) -> image through a random homography.
        image, matrix = self._camera(canvas, rng)
        boxes_canvas = np.array([p.box for p in placed], float).reshape(-1, 4) / supersample
        warped = _boxes_through(matrix, boxes_canvas)
        clipped = (
            np.column_stack(
                [
                    np.clip(warped[:, [0, 2]], 0, image.width),
                    np.clip(warped[:, [1, 3]], 0, image.height),
                ]
            )[:, [0, 2, 1, 3]]
            if len(warped)
            else warped
        )
        area = np.prod(np.maximum(warped[:, 2:] - warped[:, :2], 1e-9), axis=1)
        visible = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0), axis=1) / area
        image, occluded = self._occlude(image, clipped, rng)
        image = self._photometric(image, rng)

        objects: list[SceneObject] = []
        for p, box, vis, occ in zip(placed, clipped, visible, occluded, strict=True):
            flags = list(p.flags) + (["occluded"] if occ > 0.2 else [])
            if vis >= cfg.min_visible and occ < 0.6:
                objects.append(
                    SceneObject(
                        p.product_id, tuple(float(v) for v in box), p.role, p.facing_id, flags
                    )
                )
            if p.facing_id in truths:
                truth = truths[p.facing_id]
                truth.flags = flags
                truth.in_frame = bool(vis >= cfg.min_visible)

        # Where every facing's rectangle lands, including gaps.
        unit_to_canvas = np.array([[scale, 0, left * scale], [0, scale, top * scale], [0, 0, 1]])
        homography = matrix @ unit_to_canvas
        rects = np.array([f.bounds for f in facings], float).reshape(-1, 4)
        facing_boxes = _boxes_through(homography, rects)
        for facing, box in zip(facings, facing_boxes, strict=True):
            truth = truths[facing.facing_id]
            inside = (
                box[0] >= -0.5 * (box[2] - box[0])
                and box[2] <= image.width + 0.5 * (box[2] - box[0])
                and box[1] >= -0.5 * (box[3] - box[1])
                and box[3] <= image.height + 0.5 * (box[3] - box[1])
            )
            truth.in_frame = truth.in_frame and bool(inside)
            truth.xyxy = tuple(float(v) for v in box)
        return RenderedScene(
            image=image,
            planogram_id=planogram.id,
            objects=objects,
            facings=[truths[f.facing_id] for f in facings],
            homography=homography,
        )

    # ---- building blocks

    def _substitute(self, facing: ExpectedFacing, rng: np.random.Generator) -> str | None:
        """A catalogue product that fits roughly in the facing's slot."""
        options = [
            p.id
            for p in self.catalogue.values()
            if p.id != facing.product_id and p.w <= facing.w * 1.25 and 0.6 <= p.h / facing.h <= 1.4
        ]
        if not options:
            options = [p for p in self.catalogue if p != facing.product_id]
        return str(options[int(rng.integers(len(options)))]) if options else None

    def _background(self, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
        """The back panel: plain, pegboard or slatted, in shop-fitting colours."""
        tone = rng.choice(
            [
                (200, 200, 200),
                (60, 60, 65),
                (235, 232, 225),
                (150, 150, 155),
                (190, 180, 160),
                (40, 70, 120),
                (230, 230, 235),
            ]
        )
        tone = np.clip(np.asarray(tone) + rng.normal(0, 12, 3), 0, 255).astype(int)
        image = Image.new("RGB", size, tuple(int(c) for c in tone))
        draw = ImageDraw.Draw(image)
        kind = rng.integers(3)
        darker = tuple(int(c * 0.55) for c in tone)
        step = max(6, int(min(size) * rng.uniform(0.015, 0.03)))
        if kind == 0:  # pegboard holes
            r = max(1, step // 6)
            for y in range(step // 2, size[1], step):
                for x in range(step // 2, size[0], step):
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=darker)
        elif kind == 1:  # slats
            for y in range(0, size[1], step * 3):
                draw.line([(0, y), (size[0], y)], fill=darker, width=max(1, step // 5))
        return image

    def _place(
        self,
        canvas,
        draw,
        product_id: str,
        x: float,
        bottom: float,
        w: float,
        h: float,
        to_px,
        px: float,
        rng: np.random.Generator,
    ):
        """Draw one product standing on ``bottom``; returns its canvas box and flags."""
        cfg = self.config
        flags: list[str] = []
        jitter = rng.normal(0, cfg.position_jitter / 2) * w
        scale = float(rng.uniform(0.97, 1.02))
        darken = float(rng.uniform(0.85, 1.08))
        roll = rng.random()
        if roll < cfg.pull_forward_rate:
            flags.append("pulled_forward")
            scale *= float(rng.uniform(1.03, 1.08))
            darken *= 1.05
        elif roll < cfg.pull_forward_rate + cfg.push_back_rate:
            flags.append("pushed_back")
            scale *= float(rng.uniform(0.88, 0.95))
            darken *= float(rng.uniform(0.6, 0.8))
        turned = rng.random() < cfg.turn_rate
        if turned:
            flags.append("turned")
        x0, y1 = to_px(x + jitter + w * (1 - scale) / 2, bottom)
        if "pulled_forward" in flags:
            y1 += 0.4 * px * h * 0.05  # stands in front of the rail, so lower in the picture
        wp, hp = max(2, round(w * scale * px)), max(2, round(h * scale * px))
        face = self.faces[product_id]
        if turned:
            front_w = max(1, round(wp * rng.uniform(0.6, 0.85)))
            front = face.resize((front_w, hp), Image.Resampling.BILINEAR)
            edge = face.crop((face.width - max(1, face.width // 10), 0, face.width, face.height))
            side = edge.resize((wp - front_w, hp)) if wp > front_w else None
            tile = Image.new("RGB", (wp, hp))
            if side is not None:
                side = Image.eval(side, lambda v: int(v * 0.6))
            on_left = rng.random() < 0.5
            tile.paste(front, (wp - front_w, 0) if on_left else (0, 0))
            if side is not None:
                tile.paste(side, (0, 0) if on_left else (front_w, 0))
        else:
            tile = face.resize((wp, hp), Image.Resampling.BILINEAR)
        below_eye = (bottom - self._eye_level) / max(self._floor - self._eye_level, 1e-9)
        if below_eye > 0 and cfg.perspective > 0:
            lid = round(hp * 0.14 * min(below_eye, 1.0) * float(rng.uniform(0.5, 1.0)))
            if lid >= 1:
                top = np.asarray(tile.crop((0, 0, wp, max(1, hp // 20))), np.float32)
                colour = np.clip(top.mean((0, 1)) * rng.uniform(0.9, 1.25), 0, 255)
                strip = np.broadcast_to(colour, (lid, wp, 3)).astype(np.uint8)
                full = Image.new("RGB", (wp, hp + lid))
                full.paste(Image.fromarray(np.ascontiguousarray(strip)), (0, 0))
                full.paste(tile, (0, lid))
                tile, hp = full, hp + lid
        if abs(darken - 1) > 0.01:
            tile = Image.eval(tile, lambda v, d=darken: min(255, int(v * d)))
        box = (float(x0), float(y1 - hp), float(x0 + wp), float(y1))
        # Contact shadow behind the pack.
        off = max(1, round(wp * 0.03))
        draw.rectangle([box[0] + off, box[1] + off, box[2] + off, box[3]], fill=(25, 25, 25))
        canvas.paste(tile, (round(box[0]), round(box[1])))
        return box, flags

    def _free_spans(
        self, planogram: Planogram, facings: Sequence[ExpectedFacing], fixture_id: str
    ) -> list[tuple[float, float]]:
        fixture = planogram.fixture_by_id()[fixture_id]
        taken = sorted((f.x, f.x + f.w) for f in facings if f.fixture_id == fixture_id)
        spans, cursor = [], fixture.x
        for a, b in taken:
            if a > cursor:
                spans.append((cursor, a))
            cursor = max(cursor, b)
        if fixture.x + fixture.w > cursor:
            spans.append((cursor, fixture.x + fixture.w))
        return spans

    def _fill_span(
        self,
        canvas,
        draw,
        placed: list[_Placed],
        x0: float,
        x1: float,
        bottom: float,
        to_px,
        px: float,
        rng: np.random.Generator,
        role: ObjectRole,
        rate: float,
        *,
        dense: bool = False,
    ) -> None:
        """Put products side by side into [x0, x1] on a shelf (some, or densely)."""
        if rng.random() >= rate:
            return
        cursor = x0
        shelf_height = max((p.h for p in self.catalogue.values()), default=1.0)
        while True:
            foreign = rng.random() < self.config.foreign_rate or not self.catalogue
            pool = self.foreign if foreign else list(self.catalogue.values())
            product = pool[int(rng.integers(len(pool)))]
            w, h = product.w, min(product.h, shelf_height * 1.1)
            if cursor + w > x1:
                break
            box, flags = self._place(canvas, draw, product.id, cursor, bottom, w, h, to_px, px, rng)
            placed.append(_Placed(product.id, box, role, None, flags))
            cursor += w * float(rng.uniform(1.0, 1.08))
            if not dense:
                break

    def _shelf_edge(
        self,
        draw,
        fixture,
        left: float,
        right: float,
        planogram: Planogram,
        to_px,
        px: float,
        rng: np.random.Generator,
        facings: Sequence[ExpectedFacing],
    ) -> None:
        if fixture.type is FixtureType.SHELF:  # shelves run on into the neighbouring bays
            x0, y0 = to_px(-left, fixture.y)
            x1, y1 = to_px(
                planogram.width + right, fixture.y + max(fixture.h, planogram.height * 0.012)
            )
        else:
            x0, y0 = to_px(fixture.x, fixture.y)
            x1, y1 = to_px(fixture.x + fixture.w, fixture.y + max(fixture.h, 0.3))
        colour = rng.choice(
            [
                (225, 225, 228),
                (170, 172, 176),
                (240, 240, 240),
                (90, 90, 95),
                (200, 40, 40),
                (30, 80, 160),
            ]
        )
        colour = tuple(int(c) for c in np.clip(np.asarray(colour) + rng.normal(0, 8, 3), 0, 255))
        draw.rectangle([x0, y0, x1, y1], fill=colour)
        draw.line(
            [(x0, y0), (x1, y0)],
            fill=tuple(min(255, c + 30) for c in colour),
            width=max(1, round(px * 0.1)),
        )
        draw.line(
            [(x0, y1), (x1, y1)], fill=tuple(c // 3 for c in colour), width=max(1, round(px * 0.15))
        )
        # Price labels under some facings.
        font = ImageFont.load_default(size=max(6, round((y1 - y0) * 0.45)))
        for facing in facings:
            if facing.fixture_id != fixture.id or facing.row or rng.random() < 0.6:
                continue
            lx, _ = to_px(facing.x + facing.w * rng.uniform(0.05, 0.4), 0)
            lw = facing.w * px * rng.uniform(0.5, 0.9)
            label = rng.choice([(255, 255, 255), (255, 230, 60), (250, 250, 240)])
            inset = (y1 - y0) * 0.12
            draw.rectangle([lx, y0 + inset, lx + lw, y1 - inset], fill=tuple(int(c) for c in label))
            price = f"{rng.integers(1, 9)}.{rng.integers(0, 99):02d}"
            draw.text(
                (lx + lw / 2, (y0 + y1) / 2), price, font=font, fill=(20, 20, 20), anchor="mm"
            )

    def _side_panels(
        self,
        draw,
        planogram: Planogram,
        left: float,
        right: float,
        top: float,
        bottom: float,
        to_px,
        px: float,
        rng: np.random.Generator,
        shade: np.ndarray,
    ) -> None:
        if rng.random() >= self.config.side_panel_rate:
            return
        width_units = planogram.width * rng.uniform(0.01, 0.03)
        colour = tuple(
            int(c)
            for c in rng.choice([(180, 180, 185), (60, 60, 60), (220, 220, 220), (140, 110, 80)])
        )
        for edge in (0.0, planogram.width):
            xa, ya = to_px(edge - width_units / 2, -top)
            xb, yb = to_px(edge + width_units / 2, planogram.height + bottom)
            draw.rectangle([xa, ya, xb, yb], fill=colour)

    def _camera(self, canvas: Image.Image, rng: np.random.Generator):
        """Warp the canvas through a random homography; returns the image and the matrix."""
        cfg = self.config
        w, h = canvas.size
        zoom = float(rng.uniform(*cfg.zoom))
        angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
        centre = np.array([w / 2, h / 2])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        dst = (src - centre) @ rot.T * zoom + centre
        dst += rng.uniform(-cfg.perspective, cfg.perspective, (4, 2)) * [w, h]
        dst += rng.uniform(-0.03, 0.03, 2) * [w, h] * (zoom - 0.95)
        matrix = homography_from_points(src, dst)
        inverse = np.linalg.inv(matrix)
        inverse /= inverse[2, 2]
        fill = tuple(int(c) for c in rng.integers(30, 220, 3))
        image = canvas.transform(
            (w, h),
            Image.Transform.PERSPECTIVE,
            tuple(inverse.ravel()[:8]),
            Image.Resampling.BICUBIC,
            fillcolor=fill,
        )
        return image, matrix

    def _occlude(self, image: Image.Image, boxes: np.ndarray, rng: np.random.Generator):
        """Occluders (an arm, a trolley bar, a hanging sign); returns each box's covered share."""
        covered = np.zeros(len(boxes))
        if rng.random() >= self.config.occlusion_rate:
            return image, covered
        w, h = image.size
        mask = Image.new("L", image.size, 0)
        mdraw = ImageDraw.Draw(mask)
        draw = ImageDraw.Draw(image)
        kind = rng.integers(3)
        colour = tuple(int(c) for c in rng.integers(20, 240, 3))
        if kind == 0:  # an arm reaching in from a side
            y = rng.uniform(0.2, 0.8) * h
            thick = rng.uniform(0.05, 0.1) * h
            reach = rng.uniform(0.1, 0.35) * w
            side = rng.random() < 0.5
            pts = (
                [(0, y), (reach, y + thick * 0.3), (reach, y + thick), (0, y + thick * 1.3)]
                if side
                else [
                    (w, y),
                    (w - reach, y + thick * 0.3),
                    (w - reach, y + thick),
                    (w, y + thick * 1.3),
                ]
            )
            skin = tuple(
                int(c)
                for c in rng.choice(
                    [(224, 172, 105), (141, 85, 36), (255, 219, 172), (198, 134, 66)]
                )
            )
            for d in (draw, mdraw):
                d.polygon(pts, fill=skin if d is draw else 255)
        elif kind == 1:  # a trolley bar across the bottom
            y = rng.uniform(0.75, 0.95) * h
            thick = max(2, int(rng.uniform(0.01, 0.03) * h))
            for d in (draw, mdraw):
                d.line(
                    [(0, y), (w, y + rng.uniform(-0.05, 0.05) * h)],
                    fill=colour if d is draw else 255,
                    width=thick,
                )
        else:  # a hanging promotion sign
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
            sw, sh = rng.uniform(0.06, 0.15) * w, rng.uniform(0.04, 0.1) * h
            for d in (draw, mdraw):
                d.rectangle([cx - sw, cy - sh, cx + sw, cy + sh], fill=colour if d is draw else 255)
        covered_mask = np.asarray(mask, bool)
        integral = np.pad(covered_mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        b = np.round(boxes).astype(int)
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
        inside = (
            integral[b[:, 3], b[:, 2]]
            - integral[b[:, 1], b[:, 2]]
            - integral[b[:, 3], b[:, 0]]
            + integral[b[:, 1], b[:, 0]]
        )
        area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1)
        return image, inside / area

    def _photometric(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        cfg = self.config
        arr = np.asarray(image, np.float32)
        h, w = arr.shape[:2]
        if cfg.lighting > 0:
            # A light gradient in a random direction, plus vignetting.
            theta = rng.uniform(0, 2 * np.pi)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            ramp = np.cos(theta) * (xx / w - 0.5) + np.sin(theta) * (yy / h - 0.5)
            gain = (
                1
                + rng.uniform(-cfg.lighting, cfg.lighting)
                + ramp * rng.uniform(0, cfg.lighting) * 2
            )
            r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2
            gain = gain * (1 - rng.uniform(0, cfg.lighting) * r2)
            arr *= gain[..., None]
        if cfg.colour_cast > 0:
            arr *= rng.uniform(1 - cfg.colour_cast, 1 + cfg.colour_cast, 3).astype(np.float32)
            contrast = rng.uniform(0.8, 1.15)
            arr = (arr - 128) * contrast + 128
        arr = np.clip(arr, 0, 255)
        image = Image.fromarray(arr.astype(np.uint8))
        if cfg.blur_max > 0:
            radius = float(rng.uniform(0, cfg.blur_max))
            if radius > 0.2:
                image = image.filter(ImageFilter.GaussianBlur(radius))
        if cfg.noise_max > 0:
            sigma = rng.uniform(0, cfg.noise_max)
            noisy = (
                np.asarray(image, np.float32)
                + rng.normal(0, sigma, (h, w, 1)).astype(np.float32)
                + rng.normal(0, sigma / 2, (h, w, 3)).astype(np.float32)
            )
            image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")
