"""Planogram validation: every problem, each with the place it was found.

``validate_planogram`` checks a parsed model (references, ids, sizes, geometry); importers pass a
``Locator`` so that the same rule names ``positions[12].productId`` in an Azure file,
``line 17 (Position), field 'UPC'`` in a ProSpace file and ``positions[12].product_id`` in
canonical JSON. File-level checks (size, encoding) live in ``loader``.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely

from shelfscan.identifiers import identifier_problem, label_problem
from shelfscan.planogram.errors import DEFAULT_MAX_PROBLEMS, Problem, cap_problems
from shelfscan.planogram.geometry import boxes_from_bounds
from shelfscan.planogram.model import FixtureType, Planogram, Unit

SECTIONS = ("planogram", "bays", "products", "fixtures", "positions")

# Coordinates in real files are rounded to a few decimals and facings are placed by summing
# widths, so exact comparisons would flag touching neighbours; allow about 0.5 mm.
DEFAULT_TOLERANCE: dict[Unit, float] = {Unit.MM: 0.5, Unit.CM: 0.05, Unit.IN: 0.02}

# Fixtures that products hang from (below the fixture) rather than stand on (above it).
HANGING_FIXTURES = frozenset({FixtureType.PEG, FixtureType.BAR})

UNIT_WORDS: dict[str, Unit] = {
    "mm": Unit.MM,
    "millimeter": Unit.MM,
    "millimeters": Unit.MM,
    "millimetre": Unit.MM,
    "millimetres": Unit.MM,
    "cm": Unit.CM,
    "centimeter": Unit.CM,
    "centimeters": Unit.CM,
    "centimetre": Unit.CM,
    "centimetres": Unit.CM,
    "metric": Unit.CM,
    "in": Unit.IN,
    "inch": Unit.IN,
    "inches": Unit.IN,
    '"': Unit.IN,
    "imperial": Unit.IN,
}


def parse_unit(text: object) -> Unit | None:
    """A unit from how files spell it (``cm``, ``Inches``, ``metric``); None if not a unit."""
    if not isinstance(text, str):
        return None
    return UNIT_WORDS.get(text.strip().lower())


class Locator:
    """Names a model element the way the source document does.

    ``section`` is one of ``SECTIONS``; ``index`` the element's index in that model list
    (None for the section as a whole); ``field`` a canonical field name.
    """

    def __call__(self, section: str, index: int | None = None, field: str | None = None) -> str:
        if section == "planogram":
            return field or "planogram"
        where = section if index is None else f"{section}[{index}]"
        return f"{where}.{field}" if field else where


CANONICAL_LOCATOR = Locator()


class AzureLocator(Locator):
    """Azure planogram JSON keys, camelCase or PascalCase as the document spells them."""

    _FIELDS: Mapping[str, str] = {"product_id": "productId", "fixture_id": "fixtureId"}

    def __init__(self, pascal_case: bool) -> None:
        self.pascal_case = pascal_case

    def _spell(self, name: str) -> str:
        name = self._FIELDS.get(name, name)
        return name[:1].upper() + name[1:] if self.pascal_case else name

    def __call__(self, section: str, index: int | None = None, field: str | None = None) -> str:
        if section == "planogram":
            return self._spell(field) if field else "planogram"
        where = self._spell(section) if index is None else f"{self._spell(section)}[{index}]"
        return f"{where}.{self._spell(field)}" if field else where


@dataclass
class SourceLocator(Locator):
    """Line-oriented sources (ProSpace, CSV, XLSX): each element maps to the line it came from.

    ``lines`` maps ``(section, index)`` to e.g. ``"line 17 (Position)"``; ``field_names`` maps
    canonical field names to the source's column names per section.
    """

    lines: dict[tuple[str, int | None], str] = field(default_factory=dict)
    field_names: dict[str, dict[str, str]] = field(default_factory=dict)
    whole_file: str = "file"

    def __call__(self, section: str, index: int | None = None, field: str | None = None) -> str:
        where = self.lines.get((section, index))
        if where is None:
            if index is None and section != "planogram":
                return self.whole_file
            return CANONICAL_LOCATOR(section, index, field)
        if field is None:
            return where
        return f"{where}, field '{self.field_names.get(section, {}).get(field, field)}'"


def _fmt(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _is_size(value: float | None, *, allow_zero: bool = False) -> bool:
    if value is None or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def _size_problem(value: float) -> str:
    if math.isnan(value):
        return "size is NaN"
    if math.isinf(value):
        return f"size is infinite ({value})"
    return f"size must be positive, got {_fmt(value)}"


def gtin_problem(gtin: str) -> str | None:
    """Why ``gtin`` is not a valid GTIN-8/12/13/14, or None if it is."""
    if not gtin.isdigit():
        return f"GTIN must be digits only, got {gtin!r}"
    if len(gtin) not in (8, 12, 13, 14):
        return f"GTIN must have 8, 12, 13 or 14 digits, got {len(gtin)} in {gtin!r}"
    digits = [int(d) for d in gtin]
    body = digits[:-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    expected = (10 - total % 10) % 10
    if digits[-1] != expected:
        return f"GTIN check digit of {gtin!r} should be {expected}"
    return None


def gtin_with_check_digit(body: str) -> str:
    """Append the GS1 check digit to ``body`` (7, 11, 12 or 13 digits)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def check_units(declared: Iterable[tuple[str, str]]) -> list[Problem]:
    """Problems for unit declarations that disagree with the first one.

    ``declared`` holds ``(location, unit text)`` pairs, in file order.
    """
    problems: list[Problem] = []
    first: tuple[str, Unit] | None = None
    for location, text in declared:
        unit = parse_unit(text)
        if unit is None:
            problems.append(Problem(location, f"unknown unit {text!r}; expected mm, cm or in"))
            continue
        if first is None:
            first = (location, unit)
        elif unit != first[1]:
            problems.append(
                Problem(
                    location,
                    f"mixed units: {unit.value!r} here but {first[1].value!r} at {first[0]}; "
                    "convert the file to one unit",
                )
            )
    return problems


@dataclass
class _Collector:
    locate: Locator
    problems: list[tuple[tuple[int, int, int], Problem]] = field(default_factory=list)

    def add(self, section: str, index: int | None, field_name: str | None, message: str) -> None:
        key = (SECTIONS.index(section), -1 if index is None else index, len(self.problems))
        self.problems.append((key, Problem(self.locate(section, index, field_name), message)))

    def sorted(self) -> list[Problem]:
        return [problem for _, problem in sorted(self.problems, key=lambda item: item[0])]


def _check_duplicates(collect: _Collector, section: str, ids: list[str]) -> None:
    first_index: dict[str, int] = {}
    for index, ident in enumerate(ids):
        if not ident:
            collect.add(section, index, "id", "id is empty")
        elif reason := label_problem(ident):
            collect.add(section, index, "id", f"id {reason}")
        elif ident in first_index:
            first = collect.locate(section, first_index[ident])
            collect.add(section, index, "id", f"duplicate id {ident!r} (first used at {first})")
        else:
            first_index[ident] = index


def validate_planogram(
    planogram: Planogram,
    *,
    locate: Locator = CANONICAL_LOCATOR,
    tolerance: float | None = None,
    max_problems: int | None = DEFAULT_MAX_PROBLEMS,
) -> list[Problem]:
    """Every problem in ``planogram``, grouped by element in document order; empty when valid.

    ``tolerance`` (planogram units) absorbs rounding when checking overlaps and containment;
    it defaults to about half a millimetre in the planogram's unit. Past ``max_problems``
    (None: no limit) the rest are counted in one last problem instead of listed.
    """
    collect = _Collector(locate)
    tol = DEFAULT_TOLERANCE[planogram.unit] if tolerance is None else tolerance

    # The planogram itself.
    planogram_ok = True
    for name in ("width", "height"):
        value = getattr(planogram, name)
        if not _is_size(value):
            collect.add("planogram", None, name, _size_problem(value))
            planogram_ok = False
    if not planogram.id:
        collect.add("planogram", None, "id", "id is empty")
    elif reason := identifier_problem(planogram.id):
        # The id becomes a key in URLs and storage: one grammar, see shelfscan.identifiers.
        collect.add("planogram", None, "id", f"planogram id {reason}")
    for section in ("products", "fixtures", "positions"):
        if not getattr(planogram, section):
            collect.add(section, None, None, f"the planogram has no {section}")

    for section in ("bays", "products", "fixtures", "positions"):
        _check_duplicates(collect, section, [item.id for item in getattr(planogram, section)])

    bay_ids = {bay.id for bay in planogram.bays}
    for index, bay in enumerate(planogram.bays):
        if not math.isfinite(bay.x):
            collect.add("bays", index, "x", f"coordinate must be finite, got {bay.x}")
        if bay.w is not None and not _is_size(bay.w):
            collect.add("bays", index, "w", _size_problem(bay.w))

    good_products: set[str] = set()
    for index, product in enumerate(planogram.products):
        ok = True
        if not product.name.strip():
            collect.add("products", index, "name", "name is empty")
        for name in ("w", "h"):
            value = getattr(product, name)
            if not _is_size(value):
                collect.add("products", index, name, _size_problem(value))
                ok = False
        if product.depth is not None and not _is_size(product.depth):
            collect.add("products", index, "depth", _size_problem(product.depth))
        if product.gtin is not None and (reason := gtin_problem(product.gtin)):
            collect.add("products", index, "gtin", reason)
        if ok:
            good_products.add(product.id)

    good_fixtures: set[str] = set()
    for index, fixture in enumerate(planogram.fixtures):
        ok = True
        for name in ("x", "y"):
            value = getattr(fixture, name)
            if not math.isfinite(value):
                collect.add("fixtures", index, name, f"coordinate must be finite, got {value}")
                ok = False
        if not _is_size(fixture.w):
            collect.add("fixtures", index, "w", _size_problem(fixture.w))
            ok = False
        if not _is_size(fixture.h, allow_zero=True):
            collect.add("fixtures", index, "h", _size_problem(fixture.h))
            ok = False
        if fixture.bay_id is not None and fixture.bay_id not in bay_ids:
            collect.add("fixtures", index, "bay_id", f"unknown bay {fixture.bay_id!r}")
        if ok and planogram_ok:
            right, bottom = fixture.x + fixture.w, fixture.y + fixture.h
            if (
                fixture.x < -tol
                or fixture.y < -tol
                or right > planogram.width + tol
                or bottom > planogram.height + tol
            ):
                collect.add(
                    "fixtures",
                    index,
                    None,
                    f"fixture spans x {_fmt(fixture.x)}–{_fmt(right)}, "
                    f"y {_fmt(fixture.y)}–{_fmt(bottom)}, outside the planogram "
                    f"(0–{_fmt(planogram.width)} × 0–{_fmt(planogram.height)} "
                    f"{planogram.unit.value})",
                )
        if ok:
            good_fixtures.add(fixture.id)

    products = planogram.product_by_id()
    fixtures = planogram.fixture_by_id()
    fixture_index = {f.id: i for i, f in enumerate(planogram.fixtures)}
    sequences: dict[tuple[str, int], int] = {}
    # Blocks (all facings of one position) that are fit for geometric checks.
    block_rows: list[tuple[int, float, float, float, float]] = []
    for index, position in enumerate(planogram.positions):
        ok = True
        if position.product_id not in products:
            collect.add(
                "positions", index, "product_id", f"unknown product {position.product_id!r}"
            )
            ok = False
        if position.fixture_id not in fixtures:
            collect.add(
                "positions", index, "fixture_id", f"unknown fixture {position.fixture_id!r}"
            )
            ok = False
        for name in ("x", "y"):
            value = getattr(position, name)
            if not math.isfinite(value):
                collect.add("positions", index, name, f"coordinate must be finite, got {value}")
                ok = False
        for name in ("hfacings", "vfacings"):
            value = getattr(position, name)
            if value < 1:
                collect.add("positions", index, name, f"facings must be at least 1, got {value}")
                ok = False
        if position.sequence is not None:
            if position.sequence < 1:
                collect.add(
                    "positions", index, "sequence", f"must be 1 or more, got {position.sequence}"
                )
            else:
                key = (position.fixture_id, position.sequence)
                if key in sequences:
                    collect.add(
                        "positions",
                        index,
                        "sequence",
                        f"sequence {position.sequence} on fixture {position.fixture_id!r} is "
                        f"also used at {locate('positions', sequences[key])}",
                    )
                else:
                    sequences[key] = index
        if not ok or position.product_id not in good_products:
            continue
        product = products[position.product_id]
        block = (
            position.x,
            position.y,
            position.x + position.hfacings * product.w,
            position.y + position.vfacings * product.h,
        )
        if planogram_ok and (
            block[0] < -tol
            or block[1] < -tol
            or block[2] > planogram.width + tol
            or block[3] > planogram.height + tol
        ):
            collect.add(
                "positions",
                index,
                None,
                f"facings span x {_fmt(block[0])}–{_fmt(block[2])}, "
                f"y {_fmt(block[1])}–{_fmt(block[3])}, outside the planogram "
                f"(0–{_fmt(planogram.width)} × 0–{_fmt(planogram.height)} "
                f"{planogram.unit.value})",
            )
        if position.fixture_id in good_fixtures:
            block_rows.append((index, *block))

    if block_rows:
        _check_fixture_fit(planogram, collect, block_rows, fixture_index, tol)
        _check_overlaps(planogram, collect, tol)
    return cap_problems(collect.sorted(), max_problems)


def _vertical_neighbours(planogram: Planogram) -> dict[int, list[int]]:
    """For each fixture, the other fixtures that share some of its horizontal extent.

    One STRtree query of full-height columns against the fixtures, so that the space check
    below looks at a handful of candidates per position instead of every fixture.
    """
    bounds = np.array([(f.x, f.y, f.x + f.w, f.y + f.h) for f in planogram.fixtures], dtype=float)
    finite = np.flatnonzero(np.isfinite(bounds).all(axis=1))
    neighbours: dict[int, list[int]] = defaultdict(list)
    if finite.size == 0:
        return neighbours
    kept = bounds[finite]
    tree = shapely.STRtree(boxes_from_bounds(kept))
    low, high = np.nanmin(kept[:, 1]) - 1.0, np.nanmax(kept[:, 3]) + 1.0
    columns = shapely.box(kept[:, 0], low, kept[:, 2], high)
    source, target = tree.query(columns, predicate="intersects")
    for i, j in zip(finite[source], finite[target], strict=True):
        if i != j:
            neighbours[int(i)].append(int(j))
    return neighbours


# Positions per numpy chunk in the space check: bounds its positions × neighbours matrix.
_SPACE_CHUNK = 1_024


def _space_limits(
    planogram: Planogram,
    blocks: list[tuple[int, float, float, float, float]],
    fixture_index: dict[str, int],
    tol: float,
) -> dict[int, float]:
    """For each block (by position index), the y limit of the space its fixture offers over
    the block's width: the nearest fixture edge above a standing fixture (or the planogram
    top), below a hanging one (or the planogram bottom).

    Vectorised per fixture over its positions × its vertical neighbours, so that a pile of
    fixtures in one column costs array work rather than a Python loop per pair.
    """
    neighbours = _vertical_neighbours(planogram)
    fixtures = planogram.fixtures
    members: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for index, left, _top, right, _bottom in blocks:
        members[fixture_index[planogram.positions[index].fixture_id]].append((index, left, right))
    limits: dict[int, float] = {}
    for f_index, on_fixture in members.items():
        fixture = fixtures[f_index]
        hanging = fixture.type in HANGING_FIXTURES
        default = planogram.height if hanging else 0.0
        others = [fixtures[o] for o in neighbours.get(f_index, ())]
        if hanging:
            others = [o for o in others if o.y >= fixture.y + fixture.h - tol]
            edges = np.array([o.y for o in others], dtype=float)
        else:
            others = [o for o in others if o.y + o.h <= fixture.y + tol]
            edges = np.array([o.y + o.h for o in others], dtype=float)
        if not others:
            limits.update((index, default) for index, _, _ in on_fixture)
            continue
        other_left = np.array([o.x for o in others], dtype=float)
        other_right = other_left + np.array([o.w for o in others], dtype=float)
        for start in range(0, len(on_fixture), _SPACE_CHUNK):
            chunk = on_fixture[start : start + _SPACE_CHUNK]
            left = np.array([c[1] for c in chunk], dtype=float)[:, None]
            right = np.array([c[2] for c in chunk], dtype=float)[:, None]
            over = (other_left < right - tol) & (other_right > left + tol)
            if hanging:
                found = np.minimum(np.where(over, edges, np.inf).min(axis=1), default)
            else:
                found = np.maximum(np.where(over, edges, -np.inf).max(axis=1), default)
            limits.update(zip((c[0] for c in chunk), found.tolist(), strict=True))
    return limits


def _check_fixture_fit(
    planogram: Planogram,
    collect: _Collector,
    blocks: list[tuple[int, float, float, float, float]],
    fixture_index: dict[str, int],
    tol: float,
) -> None:
    unit = planogram.unit.value
    products = planogram.product_by_id()
    limits = _space_limits(planogram, blocks, fixture_index, tol)
    for index, left, top, right, bottom in blocks:
        position = planogram.positions[index]
        f_index = fixture_index[position.fixture_id]
        fixture = planogram.fixtures[f_index]
        product = products[position.product_id]
        fixture_right = fixture.x + fixture.w
        if left < fixture.x - tol or right > fixture_right + tol:
            collect.add(
                "positions",
                index,
                "x",
                f"facings span x {_fmt(left)}–{_fmt(right)} but fixture {fixture.id!r} spans "
                f"x {_fmt(fixture.x)}–{_fmt(fixture_right)}",
            )
        limit = limits[index]
        stack = bottom - top
        if fixture.type in HANGING_FIXTURES:
            hook = fixture.y + fixture.h
            space = limit - hook
            if top < hook - tol:
                collect.add(
                    "positions",
                    index,
                    "y",
                    f"top at y {_fmt(top)} is above the {fixture.type.value} {fixture.id!r} it "
                    f"hangs from (y {_fmt(hook)})",
                )
            elif stack > space + tol:
                collect.add(
                    "positions",
                    index,
                    None,
                    f"product {product.name!r} hangs {_fmt(stack)} {unit} "
                    f"({position.vfacings} × {_fmt(product.h)}) but fixture {fixture.id!r} has "
                    f"{_fmt(space)} {unit} below it",
                )
            elif bottom > limit + tol:
                collect.add(
                    "positions",
                    index,
                    "y",
                    f"bottom at y {_fmt(bottom)} runs past the space below fixture "
                    f"{fixture.id!r}, which ends at y {_fmt(limit)}",
                )
            continue
        space = fixture.y - limit
        if bottom > fixture.y + tol:
            collect.add(
                "positions",
                index,
                "y",
                f"bottom at y {_fmt(bottom)} is below the top of fixture {fixture.id!r} "
                f"(y {_fmt(fixture.y)}); products stand on their shelf",
            )
        elif stack > space + tol:
            collect.add(
                "positions",
                index,
                None,
                f"product {product.name!r} is {_fmt(stack)} {unit} tall "
                f"({position.vfacings} × {_fmt(product.h)}) but the space above fixture "
                f"{fixture.id!r} is {_fmt(space)} {unit}",
            )
        elif top < limit - tol:
            collect.add(
                "positions",
                index,
                "y",
                f"top at y {_fmt(top)} reaches above the space of fixture {fixture.id!r}, "
                f"which ends at y {_fmt(limit)}",
            )


class _PrefixMax:
    """Max-with-argmax over slots ``0..n-1`` with point updates and prefix queries, O(log n).

    The overlap sweep keeps the bottom edge of each active block in the slot of its top edge's
    rank, so "which active block that starts above y reaches lowest" is one prefix query.
    """

    def __init__(self, size: int) -> None:
        self._size = 1
        while self._size < max(size, 1):
            self._size *= 2
        self._value = [-math.inf] * (2 * self._size)
        self._slot = [-1] * (2 * self._size)

    def set(self, slot: int, value: float) -> None:
        node = slot + self._size
        self._value[node], self._slot[node] = value, slot
        node //= 2
        while node:
            left, right = 2 * node, 2 * node + 1
            best = left if self._value[left] >= self._value[right] else right
            self._value[node], self._slot[node] = self._value[best], self._slot[best]
            node //= 2

    def max_before(self, end: int) -> tuple[float, int]:
        """The largest value in slots ``0..end-1`` and its slot (``-inf, -1`` when empty)."""
        best, slot = -math.inf, -1
        low, high = self._size, end + self._size
        while low < high:
            if low & 1:
                if self._value[low] > best:
                    best, slot = self._value[low], self._slot[low]
                low += 1
            if high & 1:
                high -= 1
                if self._value[high] > best:
                    best, slot = self._value[high], self._slot[high]
            low //= 2
            high //= 2
        return best, slot


def _overlapping_blocks(blocks: np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of rows of ``blocks`` (left, top, right, bottom) that overlap by more
    than ``tol`` both ways: at least one pair for every block that overlaps a block to its left.

    A sweep from left to right: blocks stay active while they reach past the sweep line, and a
    prefix-max tree over the active blocks' tops finds, for each new block, the active one that
    starts above its bottom and reaches lowest. O(n log n) however many blocks overlap, where
    listing every overlapping pair could take n² time and memory.
    """
    count = len(blocks)
    if count < 2:
        return []
    by_left = np.lexsort((np.arange(count), blocks[:, 0]))
    reach = np.maximum.accumulate(blocks[by_left, 2])
    if np.all(reach[:-1] <= blocks[by_left[1:], 0] + tol):
        return []  # side by side: no block reaches into the next one
    left, top, right, bottom = (column.tolist() for column in blocks.T)
    top_order = np.argsort(blocks[:, 1], kind="stable").tolist()
    top_rank = [0] * count
    for rank, block in enumerate(top_order):
        top_rank[block] = rank
    sorted_tops = [top[block] for block in top_order]
    tree = _PrefixMax(count)
    active: list[tuple[float, int]] = []  # (right edge, block) min-heap
    pairs: list[tuple[int, int]] = []
    for j in by_left.tolist():
        while active and active[0][0] <= left[j] + tol:
            _, gone = heapq.heappop(active)
            tree.set(top_rank[gone], -math.inf)
        lowest, slot = tree.max_before(bisect.bisect_left(sorted_tops, bottom[j] - tol))
        if lowest > top[j] + tol:
            pairs.append((top_order[slot], j))
        tree.set(top_rank[j], bottom[j])
        heapq.heappush(active, (right[j], j))
    return pairs


# Facing tilings are walked for reported pairs only; this bounds the walk for absurd facings.
_MAX_TILING_STEPS = 1_000


def _tiling_overlap(a: float, wa: float, na: int, b: float, wb: float, nb: int) -> float:
    """The largest overlap between one facing of each of two rows of facings (one axis)."""
    low, high = max(a, b), min(a + na * wa, b + nb * wb)
    if high <= low:
        return 0.0
    best, most = 0.0, min(wa, wb)
    first = max(int((low - a) // wa), 0)
    last = min(math.ceil((high - a) / wa), na)
    for k in range(first, min(last, first + _MAX_TILING_STEPS)):
        start = a + k * wa
        end = start + wa
        first_b = max(int((start - b) // wb), 0)
        last_b = min(math.ceil((end - b) / wb), nb)
        for m in range(first_b, min(last_b, first_b + _MAX_TILING_STEPS)):
            other = b + m * wb
            best = max(best, min(end, other + wb) - max(start, other))
            if best >= most:
                return best
    return best


def _check_overlaps(planogram: Planogram, collect: _Collector, tol: float) -> None:
    """Facings of different positions on one fixture that overlap by more than ``tol`` both
    ways. Each overlap is reported through at least one of its positions, naming one position
    it overlaps (with the largest facing-to-facing overlap between the two), located at the
    later of the two in document order; a position piled on many others is not listed against
    every one of them, which would take quadratic time and answer space."""
    products = planogram.product_by_id()
    by_fixture: dict[str, list[int]] = defaultdict(list)
    rows: list[tuple[float, float, float, float]] = []
    owners: list[int] = []
    for index, position in enumerate(planogram.positions):
        product = products.get(position.product_id)
        if product is None or position.hfacings < 1 or position.vfacings < 1:
            continue
        block = (
            position.x,
            position.y,
            position.x + position.hfacings * product.w,
            position.y + position.vfacings * product.h,
        )
        # A facing no wider or taller than the tolerance cannot overlap by more than it.
        if not (all(math.isfinite(v) for v in block) and product.w > tol and product.h > tol):
            continue
        by_fixture[position.fixture_id].append(len(rows))
        rows.append(block)
        owners.append(index)
    found: set[tuple[int, int]] = set()
    for members in by_fixture.values():
        if len(members) < 2:
            continue
        blocks = np.array([rows[m] for m in members], dtype=float)
        for i, j in _overlapping_blocks(blocks, tol):
            first, second = owners[members[i]], owners[members[j]]
            found.add((min(first, second), max(first, second)))
    unit = planogram.unit.value
    for first, second in sorted(found, key=lambda pair: pair[::-1]):
        pa, pb = planogram.positions[first], planogram.positions[second]
        product_a, product_b = products[pa.product_id], products[pb.product_id]
        w = _tiling_overlap(pa.x, product_a.w, pa.hfacings, pb.x, product_b.w, pb.hfacings)
        h = _tiling_overlap(pa.y, product_a.h, pa.vfacings, pb.y, product_b.h, pb.vfacings)
        if w <= tol or h <= tol:
            continue  # the blocks overlap only across facing edges, each by under tol
        collect.add(
            "positions",
            second,
            None,
            f"facings overlap position {pa.id!r} at {collect.locate('positions', first)} by "
            f"{_fmt(w)} × {_fmt(h)} {unit} on fixture {pb.fixture_id!r}",
        )


def problems_by_location(problems: Iterable[Problem]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        grouped[problem.location].append(problem.problem)
    return dict(grouped)
