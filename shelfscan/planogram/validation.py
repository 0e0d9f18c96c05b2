"""Planogram validation: every problem, each with the place it was found.

``validate_planogram`` checks a parsed model (references, ids, sizes, geometry); importers pass a
``Locator`` so that the same rule names ``positions[12].productId`` in an Azure file,
``line 17 (Position), field 'UPC'`` in a ProSpace file and ``positions[12].product_id`` in
canonical JSON. File-level checks (size, encoding) live in ``loader``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely

from shelfscan.planogram.errors import Problem
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
) -> list[Problem]:
    """Every problem in ``planogram``, grouped by element in document order; empty when valid.

    ``tolerance`` (planogram units) absorbs rounding when checking overlaps and containment;
    it defaults to about half a millimetre in the planogram's unit.
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
    return collect.sorted()


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


def _space_limit(
    planogram: Planogram,
    fixture_index: int,
    left: float,
    right: float,
    tol: float,
    neighbours: dict[int, list[int]],
) -> float:
    """The y limit of the space a fixture offers: the nearest fixture edge above a standing
    fixture (or the planogram top), below a hanging one (or the planogram bottom)."""
    fixture = planogram.fixtures[fixture_index]
    hanging = fixture.type in HANGING_FIXTURES
    limit = planogram.height if hanging else 0.0
    for other_index in neighbours.get(fixture_index, ()):
        other = planogram.fixtures[other_index]
        if not (other.x < right - tol and other.x + other.w > left + tol):
            continue
        if hanging:
            if other.y >= fixture.y + fixture.h - tol:
                limit = min(limit, other.y)
        elif other.y + other.h <= fixture.y + tol:
            limit = max(limit, other.y + other.h)
    return limit


def _check_fixture_fit(
    planogram: Planogram,
    collect: _Collector,
    blocks: list[tuple[int, float, float, float, float]],
    fixture_index: dict[str, int],
    tol: float,
) -> None:
    unit = planogram.unit.value
    products = planogram.product_by_id()
    neighbours = _vertical_neighbours(planogram)
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
        limit = _space_limit(planogram, f_index, left, right, tol, neighbours)
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


def _check_overlaps(planogram: Planogram, collect: _Collector, tol: float) -> None:
    """Facings on one fixture that overlap by more than ``tol`` in both directions."""
    position_index = {id(p): i for i, p in enumerate(planogram.positions)}
    facings = planogram.facings()
    rows = []
    owners = []
    # facings() follows position order and skips unknown products; walk both in step.
    products = planogram.product_by_id()
    facing_iter = iter(facings)
    for position in planogram.positions:
        product = products.get(position.product_id)
        if product is None:
            continue
        count = max(position.hfacings, 0) * max(position.vfacings, 0)
        for _ in range(count):
            facing = next(facing_iter)
            rows.append((facing.x, facing.y, facing.x + facing.w, facing.y + facing.h))
            owners.append(position_index[id(position)])
    if not rows:
        return
    bounds = np.array(rows, dtype=float)
    owner = np.array(owners)
    finite = np.isfinite(bounds).all(axis=1) & (bounds[:, 2] > bounds[:, 0])
    finite &= bounds[:, 3] > bounds[:, 1]
    keep = np.flatnonzero(finite)
    if keep.size < 2:
        return
    boxes = boxes_from_bounds(bounds[keep])
    tree = shapely.STRtree(boxes)
    left, right = tree.query(boxes, predicate="intersects")
    pairs = left < right
    a, b = keep[left[pairs]], keep[right[pairs]]
    width = np.minimum(bounds[a, 2], bounds[b, 2]) - np.maximum(bounds[a, 0], bounds[b, 0])
    height = np.minimum(bounds[a, 3], bounds[b, 3]) - np.maximum(bounds[a, 1], bounds[b, 1])
    overlapping = (width > tol) & (height > tol) & (owner[a] != owner[b])
    worst: dict[tuple[int, int], tuple[float, float]] = {}
    for i, j, w, h in zip(
        owner[a][overlapping],
        owner[b][overlapping],
        width[overlapping],
        height[overlapping],
        strict=True,
    ):
        first, second = (int(i), int(j)) if i < j else (int(j), int(i))
        pa, pb = planogram.positions[first], planogram.positions[second]
        if pa.fixture_id != pb.fixture_id:
            continue
        previous = worst.get((first, second))
        if previous is None or w * h > previous[0] * previous[1]:
            worst[(first, second)] = (float(w), float(h))
    unit = planogram.unit.value
    for (first, second), (w, h) in sorted(worst.items(), key=lambda item: item[0][::-1]):
        pa, pb = planogram.positions[first], planogram.positions[second]
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
