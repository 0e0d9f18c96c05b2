"""Synthetic compliance scenarios with known truth, for the accuracy and speed benchmarks.

A scenario is a random planogram, a "physical" shelf derived from it (facings removed,
products swapped for others or for products not in the planogram, blocks of products slid
towards a gap, whole shelves drifting, every product jittered), a camera (anisotropic scale,
rotation, keystone perspective, optionally showing only part of the bay) and a detector
(box noise, duplicate boxes, wrong labels — some with the right one as a close second —,
missed products, gap boxes over empty shelf space). The truth is what physically stands in
each planned facing.

    from compliance_scenarios import LEVELS, make_scenario
    scenario = make_scenario(np.random.default_rng(7), LEVELS["realistic"])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from shelfscan.detections import Detections
from shelfscan.planogram.model import Fixture, Planogram, Position, Product


@dataclass(frozen=True)
class Difficulty:
    name: str
    gap_rate: float = 0.06
    swap_rate: float = 0.04
    foreign_share: float = 0.3  # share of swaps that bring a product not in the planogram
    slide_rate: float = 0.0  # share of gaps towards which a neighbouring block slides
    slide_range: tuple[float, float] = (0.3, 1.0)  # how far, in facings of the gap
    drift: float = 0.0  # per-shelf shift, facings
    jitter: float = 0.05  # per-product shift, facings
    box_noise: float = 0.02  # detector box edges, share of the box size
    duplicate_rate: float = 0.0
    label_noise: float = 0.0
    label_recoverable: float = 1.0
    miss_rate: float = 0.0
    gap_box_rate: float = 0.5
    max_rotation_deg: float = 0.0
    max_keystone: float = 0.0
    anisotropy: tuple[float, float] = (0.95, 1.05)
    partial_rate: float = 0.0  # share of photos that show only part of the bay
    partial_keep: tuple[float, float] = (0.55, 0.85)  # share of the bay's width or height kept
    id_label_share: float = 0.2  # labels that name the product by id or GTIN


# easy: a square-on photo of the whole bay and a good detector.
# realistic: a phone photo of the whole bay taken by store staff: mild tilt and keystone,
#   the phone's aspect differing from the planogram's, shelves drifting, blocks of products
#   slid into gaps, a few duplicate and wrong boxes (the right label as a close second), and
#   now and then an edge of the bay cut off.
# hard: everything stronger, and half the photos show only 55-85 % of the bay.
LEVELS: dict[str, Difficulty] = {
    "easy": Difficulty("easy"),
    "realistic": Difficulty(
        "realistic",
        gap_rate=0.08,
        swap_rate=0.05,
        slide_rate=0.5,
        drift=0.2,
        jitter=0.08,
        box_noise=0.03,
        duplicate_rate=0.02,
        label_noise=0.02,
        label_recoverable=1.0,
        gap_box_rate=0.5,
        max_rotation_deg=1.5,
        max_keystone=0.04,
        anisotropy=(0.8, 1.0),
        # A phone photo of a whole bay: staff frame the bay, so a cut-off edge is the exception
        # and clips only a strip. Photos of half a bay belong to "hard".
        partial_rate=0.1,
        partial_keep=(0.8, 0.95),
    ),
    "hard": Difficulty(
        "hard",
        gap_rate=0.15,
        swap_rate=0.08,
        slide_rate=0.7,
        drift=0.35,
        jitter=0.12,
        box_noise=0.05,
        duplicate_rate=0.05,
        label_noise=0.05,
        label_recoverable=0.9,
        miss_rate=0.005,
        gap_box_rate=0.3,
        max_rotation_deg=3.0,
        max_keystone=0.08,
        anisotropy=(0.75, 1.05),
        partial_rate=0.5,
    ),
    # Hard geometry plus a detector that often names the wrong product with no usable second
    # opinion: no matcher can tell those from real misplacements. Shows where it breaks.
    "hard+bad-detector": Difficulty(
        "hard+bad-detector",
        gap_rate=0.15,
        swap_rate=0.08,
        slide_rate=0.7,
        drift=0.35,
        jitter=0.12,
        box_noise=0.05,
        duplicate_rate=0.05,
        label_noise=0.08,
        label_recoverable=0.3,
        miss_rate=0.02,
        gap_box_rate=0.3,
        max_rotation_deg=3.0,
        max_keystone=0.08,
        anisotropy=(0.75, 1.05),
        partial_rate=0.5,
    ),
}


@dataclass
class Scenario:
    planogram: Planogram
    detections: Detections
    truth_status: dict[str, str]  # facing id -> ok | gap | misplaced | not_visible
    truth_found: dict[str, str | None]  # facing id -> product id / foreign label standing there
    visible_fraction: dict[str, float]  # of the planned facing, in the photo
    run_of_facing: dict[str, int]  # consecutive facings of one product on one shelf share a run
    difficulty: str
    planned_boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    camera: dict[str, float] = field(default_factory=dict)


def random_planogram(
    rng: np.random.Generator,
    *,
    shelves: int = 6,
    bay_width: float = 120.0,
    n_products: int = 24,
    multi_facing: bool = False,
    planogram_id: str = "synthetic",
) -> Planogram:
    """Shelves filled left to right with blocks of 1-4 facings of one product."""
    products = [
        Product(
            id=f"P{i:03d}",
            gtin=f"{rng.integers(10**12, 10**13)}",
            name=f"Brand{rng.integers(1, 9)} Item {i:03d}",
            w=round(float(rng.uniform(4.0, 9.0)), 2),
            h=round(float(rng.uniform(6.0, 12.0)), 2),
        )
        for i in range(n_products)
    ]
    fixtures: list[Fixture] = []
    positions: list[Position] = []
    y_top = 1.0
    for s in range(shelves):
        x = 0.5
        shelf_positions: list[tuple[Product, float, int]] = []
        while True:
            product = products[int(rng.integers(n_products))]
            count = int(rng.integers(1, 5))
            if x + count * product.w > bay_width - 0.5:
                count = int((bay_width - 0.5 - x) // product.w)
                if count <= 0:
                    break
            shelf_positions.append((product, x, count))
            x += count * product.w + 0.1
        tallest = max(p.h for p, _, _ in shelf_positions)
        bottom = y_top + tallest + float(rng.uniform(1.5, 3.5))
        fixture_id = f"F{s + 1}"
        fixtures.append(Fixture(id=fixture_id, x=0.0, y=bottom, w=bay_width, h=1.5))
        for product, x0, count in shelf_positions:
            if multi_facing:
                positions.append(
                    Position(
                        id=f"{fixture_id}-{len(positions) + 1:04d}",
                        product_id=product.id,
                        fixture_id=fixture_id,
                        x=x0,
                        y=bottom - product.h,
                        hfacings=count,
                    )
                )
            else:
                for c in range(count):
                    positions.append(
                        Position(
                            id=f"{len(positions) + 1:04d}",
                            product_id=product.id,
                            fixture_id=fixture_id,
                            x=round(x0 + c * product.w, 3),
                            y=bottom - product.h,
                        )
                    )
        y_top = bottom + 1.5
    return Planogram(
        id=planogram_id,
        name="synthetic bay",
        width=bay_width,
        height=y_top + 1.0,
        fixtures=fixtures,
        products=products,
        positions=positions,
    )


def planogram_for_facings(rng: np.random.Generator, facings: int, **kwargs) -> Planogram:
    """A planogram with about ``facings`` facings (6.5 units per facing on average)."""
    shelves = max(2, min(40, round(np.sqrt(facings / 5))))
    width = max(40.0, facings / shelves * 6.6)
    return random_planogram(rng, shelves=shelves, bay_width=width, **kwargs)


def make_scenario(
    rng: np.random.Generator,
    difficulty: Difficulty,
    planogram: Planogram | None = None,
    *,
    facings: int = 150,
) -> Scenario:
    planogram = planogram or planogram_for_facings(rng, facings)
    d = difficulty
    plan = planogram.facings()
    products = planogram.product_by_id()
    product_list = planogram.products
    n = len(plan)
    median_w = float(np.median([f.w for f in plan]))

    # --- the physical shelf ---
    actual: list[str | None] = [f.product_id for f in plan]
    actual_size = [(f.w, f.h) for f in plan]
    foreign_sizes: dict[str, tuple[float, float]] = {}
    offset = np.zeros(n)
    shelf_of = [f.fixture_id for f in plan]
    order = sorted(range(n), key=lambda i: (plan[i].fixture_id, plan[i].y + plan[i].h, plan[i].x))
    neighbours_left: dict[int, int] = {}
    neighbours_right: dict[int, int] = {}
    for a, b in itertools.pairwise(order):
        same_level = abs((plan[a].y + plan[a].h) - (plan[b].y + plan[b].h)) < 1e-6
        if shelf_of[a] == shelf_of[b] and same_level:
            neighbours_right[a], neighbours_left[b] = b, a

    status = ["ok"] * n
    gaps = rng.choice(n, size=round(d.gap_rate * n), replace=False)
    for i in gaps:
        actual[i] = None
        status[i] = "gap"
    present = [i for i in range(n) if actual[i] is not None]
    swaps = rng.choice(present, size=min(len(present), round(d.swap_rate * n)), replace=False)
    for i in swaps:
        w = plan[i].w
        if rng.random() < d.foreign_share:
            name = f"Foreign product {rng.integers(1000)}"
            size = (w * float(rng.uniform(0.9, 1.1)), plan[i].h * float(rng.uniform(0.8, 1.2)))
            foreign_sizes[name] = size
            actual[i], actual_size[i] = name, size
        else:
            similar = [
                p for p in product_list if p.id != plan[i].product_id and abs(p.w - w) <= 0.2 * w
            ]
            if not similar:
                continue
            p = similar[int(rng.integers(len(similar)))]
            actual[i], actual_size[i] = p.id, (p.w, p.h)
        status[i] = "misplaced"

    # Blocks slide towards a gap: the neighbours on one side close part of the space.
    for g in gaps:
        if rng.random() >= d.slide_rate:
            continue
        step = neighbours_right if rng.random() < 0.5 else neighbours_left
        sign = -1.0 if step is neighbours_right else 1.0
        block = []
        j = step.get(int(g))
        while j is not None and actual[j] is not None and len(block) < 4:
            block.append(j)
            j = step.get(j)
        shift = sign * float(rng.uniform(*d.slide_range)) * plan[g].w
        for j in block:
            offset[j] += shift
    shelf_drift = {
        s: float(rng.uniform(-d.drift, d.drift)) * median_w for s in sorted(set(shelf_of))
    }
    for i in range(n):
        offset[i] += shelf_drift[shelf_of[i]] + float(rng.normal(0, d.jitter)) * median_w

    # Physical boxes in planogram units (centred on the planned slot, standing on the shelf).
    phys = np.zeros((n, 4))
    for i, f in enumerate(plan):
        w, h = actual_size[i]
        cx = f.x + f.w / 2 + offset[i]
        bottom = f.y + f.h
        phys[i] = (cx - w / 2, bottom - h, cx + w / 2, bottom)
    planned_units = np.array([f.bounds for f in plan])

    # --- the camera ---
    sx = float(rng.uniform(25, 45))
    sy = sx * float(rng.uniform(*d.anisotropy))
    angle = np.deg2rad(float(rng.uniform(-d.max_rotation_deg, d.max_rotation_deg)))
    keystone = float(rng.uniform(-d.max_keystone, d.max_keystone))
    width_px, height_px = planogram.width * sx, planogram.height * sy
    cx0, cy0 = width_px / 2, height_px / 2

    def project(boxes: np.ndarray) -> np.ndarray:
        xs = boxes[:, [0, 2, 2, 0]] * sx
        ys = boxes[:, [1, 1, 3, 3]] * sy
        # Keystone: the horizontal scale changes linearly from top to bottom.
        xs = cx0 + (xs - cx0) * (1 + keystone * (ys - cy0) / height_px)
        c, s = np.cos(angle), np.sin(angle)
        rx = cx0 + c * (xs - cx0) - s * (ys - cy0)
        ry = cy0 + s * (xs - cx0) + c * (ys - cy0)
        return np.column_stack([rx.min(1), ry.min(1), rx.max(1), ry.max(1)])

    phys_px = project(phys)
    planned_px = project(planned_units)
    all_px = project(np.array([[0.0, 0.0, planogram.width, planogram.height]]))[0]
    margin = float(rng.uniform(0.02, 0.08))
    x0 = all_px[0] - margin * width_px
    y0 = all_px[1] - margin * height_px
    x1 = all_px[2] + margin * width_px
    y1 = all_px[3] + margin * height_px
    if rng.random() < d.partial_rate:
        keep = float(rng.uniform(*d.partial_keep))
        if rng.random() < 0.6:
            cut = (x1 - x0) * (1 - keep)
            x0, x1 = (x0 + cut, x1) if rng.random() < 0.5 else (x0, x1 - cut)
        else:
            cut = (y1 - y0) * (1 - keep)
            y0, y1 = (y0 + cut, y1) if rng.random() < 0.5 else (y0, y1 - cut)
    image_w, image_h = int(x1 - x0), int(y1 - y0)
    phys_px -= [x0, y0, x0, y0]
    planned_px -= [x0, y0, x0, y0]

    def visible_share(b: np.ndarray) -> np.ndarray:
        c = b.copy()
        c[:, [0, 2]] = np.clip(c[:, [0, 2]], 0, image_w)
        c[:, [1, 3]] = np.clip(c[:, [1, 3]], 0, image_h)
        full = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        return ((c[:, 2] - c[:, 0]).clip(0) * (c[:, 3] - c[:, 1]).clip(0)) / full

    planned_visible = visible_share(planned_px)

    # --- the detector ---
    boxes: list[np.ndarray] = []
    labels: list[str] = []
    scores: list[float] = []
    gap_flags: list[bool] = []
    alternatives: list[dict[str, float]] = []
    phys_visible = visible_share(phys_px)

    def label_for(product_id: str) -> str:
        if product_id not in products:
            return product_id
        roll = rng.random()
        if roll < d.id_label_share / 2:
            return product_id
        if roll < d.id_label_share:
            return products[product_id].gtin or product_id
        return products[product_id].name

    def noisy(box: np.ndarray) -> np.ndarray:
        w, h = box[2] - box[0], box[3] - box[1]
        return box + rng.normal(0, d.box_noise, 4) * np.array([w, h, w, h])

    for i in range(n):
        if actual[i] is None or phys_visible[i] < 0.5 or rng.random() < d.miss_rate:
            continue
        box = noisy(phys_px[i])
        box[[0, 2]] = box[[0, 2]].clip(0, image_w)
        box[[1, 3]] = box[[1, 3]].clip(0, image_h)
        confidence = float(rng.uniform(0.6, 0.95))
        true_label = label_for(actual[i])
        ranked = {true_label: confidence}
        if rng.random() < d.label_noise:
            wrong = product_list[int(rng.integers(len(product_list)))]
            if wrong.id != actual[i]:
                second = confidence * (
                    float(rng.uniform(0.6, 0.95))
                    if rng.random() < d.label_recoverable
                    else float(rng.uniform(0.02, 0.2))
                )
                ranked = {wrong.name: confidence, true_label: second}
        other = product_list[int(rng.integers(len(product_list)))].name
        ranked.setdefault(other, 0.02)
        boxes.append(box)
        labels.append(next(iter(ranked)))
        scores.append(next(iter(ranked.values())))
        gap_flags.append(False)
        alternatives.append(ranked)
        if rng.random() < d.duplicate_rate:
            boxes.append(box + rng.normal(0, 0.02, 4) * (box[2] - box[0]))
            labels.append(labels[-1])
            scores.append(scores[-1] * 0.8)
            gap_flags.append(False)
            alternatives.append({labels[-1]: scores[-1]})

    # Gap boxes over empty stretches of shelf, as a detector sees them.
    for shelf in sorted(set(shelf_of)):
        members = [i for i in range(n) if shelf_of[i] == shelf]
        levels = sorted({round(plan[i].y + plan[i].h, 6) for i in members})
        for level in levels:
            row = [i for i in members if round(plan[i].y + plan[i].h, 6) == level]
            solid = sorted((phys[i, 0], phys[i, 2]) for i in row if actual[i] is not None)
            start = min(plan[i].x for i in row)
            end = max(plan[i].x + plan[i].w for i in row)
            edges = [(start, start), *solid, (end, end)]
            height = float(np.median([plan[i].h for i in row]))
            for (_, a), (b, _) in itertools.pairwise(edges):
                if b - a >= 0.6 * median_w and rng.random() < d.gap_box_rate:
                    unit_box = np.array([[a, level - height, b, level]])
                    box = noisy(project(unit_box)[0] - [x0, y0, x0, y0])
                    if visible_share(box[None])[0] < 0.5:
                        continue
                    box[[0, 2]] = box[[0, 2]].clip(0, image_w)
                    box[[1, 3]] = box[[1, 3]].clip(0, image_h)
                    boxes.append(box)
                    labels.append("gap")
                    scores.append(float(rng.uniform(0.5, 0.9)))
                    gap_flags.append(True)
                    alternatives.append({"gap": scores[-1]})

    permutation = rng.permutation(len(boxes))
    detections = Detections.build(
        np.array(boxes).reshape(-1, 4)[permutation] if boxes else np.zeros((0, 4)),
        [labels[k] for k in permutation],
        [scores[k] for k in permutation],
        image_width=image_w,
        image_height=image_h,
        is_gap=[gap_flags[k] for k in permutation],
        ids=[f"d{k}" for k in range(len(boxes))],
        alternatives=[alternatives[k] for k in permutation],
    )

    # --- truth ---
    truth_status: dict[str, str] = {}
    truth_found: dict[str, str | None] = {}
    visible: dict[str, float] = {}
    runs: dict[str, int] = {}
    run = 0
    previous: int | None = None
    for i in order:
        if (
            previous is None
            or neighbours_left.get(i) != previous
            or (plan[previous].product_id != plan[i].product_id)
        ):
            run += 1
        previous = i
        fid = plan[i].facing_id
        runs[fid] = run
        visible[fid] = float(planned_visible[i])
        truth_status[fid] = status[i] if planned_visible[i] >= 0.5 else "not_visible"
        truth_found[fid] = actual[i]
    return Scenario(
        planogram=planogram,
        detections=detections,
        truth_status=truth_status,
        truth_found=truth_found,
        visible_fraction=visible,
        run_of_facing=runs,
        difficulty=d.name,
        planned_boxes={f.facing_id: tuple(map(float, planned_px[i])) for i, f in enumerate(plan)},
        camera={
            "scale_x": sx,
            "scale_y": sy,
            "rotation_deg": float(np.rad2deg(angle)),
            "keystone": keystone,
            "offset_x": -x0,
            "offset_y": -y0,
        },
    )


@dataclass
class ClassCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: ClassCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(
    scenario: Scenario, predicted: dict[str, str], *, ambiguous: tuple[float, float] = (0.3, 0.7)
) -> dict[str, ClassCounts]:
    """Gap and misplacement counts for one scenario.

    Facings half in the photo are left out (either answer is defensible). Gaps and
    misplacements are counted per run of identical planned facings: when one of four identical
    facings is empty (or holds another product) and the rest slid along the shelf, the photo
    cannot tell which of the four it was, and any one of them is a right answer.
    ``misplaced_strict`` counts misplacements facing by facing instead, for reference.
    """
    gaps = ClassCounts()
    misplaced = ClassCounts()
    strict = ClassCounts()
    true_gaps: dict[int, int] = {}
    pred_gaps: dict[int, int] = {}
    true_misplaced: dict[int, int] = {}
    pred_misplaced: dict[int, int] = {}
    for fid, truth in scenario.truth_status.items():
        share = scenario.visible_fraction[fid]
        if ambiguous[0] < share < ambiguous[1]:
            continue
        guess = predicted.get(fid, "not_visible")
        run = scenario.run_of_facing[fid]
        true_gaps[run] = true_gaps.get(run, 0) + (truth == "gap")
        pred_gaps[run] = pred_gaps.get(run, 0) + (guess == "gap")
        true_misplaced[run] = true_misplaced.get(run, 0) + (truth == "misplaced")
        pred_misplaced[run] = pred_misplaced.get(run, 0) + (guess == "misplaced")
        if truth == "misplaced" and guess == "misplaced":
            strict.tp += 1
        elif guess == "misplaced":
            strict.fp += 1
        elif truth == "misplaced":
            strict.fn += 1
    for counts, true_per_run, pred_per_run in (
        (gaps, true_gaps, pred_gaps),
        (misplaced, true_misplaced, pred_misplaced),
    ):
        for run, true_count in true_per_run.items():
            pred_count = pred_per_run.get(run, 0)
            counts.tp += min(true_count, pred_count)
            counts.fp += max(pred_count - true_count, 0)
            counts.fn += max(true_count - pred_count, 0)
    return {"gap": gaps, "misplaced": misplaced, "misplaced_strict": strict}
