"""JDA / Blue Yonder Space Planning ("ProSpace") ``.psa`` files: the subset a compliance check
needs.

One record per line, comma separated, backslash escapes, usually cp1252. The first field names
the record; order matters (a ``Fixture`` belongs to the ``Segment`` before it, a ``Position`` to
the ``Fixture`` before it). Coordinates run from the lower-left with y up and are flipped here
to the canonical top-left origin. Fields read (1-based after the record type):

- ``Project``: name, …; any field spelling a unit (``in``, ``cm``, ``mm``, ``inches``,
  ``metric``, ``imperial``…) declares the file's unit.
- ``Planogram``: name, key, width, height, depth, …; a unit field as for ``Project``.
- ``Segment`` (a bay): name, key, x, y, width, height, depth.
- ``Fixture``: name, color, type, x, y, width, height (thickness), depth, slope. ``type`` is the
  Space Planning code (0 shelf, 1 chest, 2 bin, 3 polygonal shelf, 4 rod, 5 lateral rod, 6 bar,
  7 pegboard, 8 multi-row pegboard, 9 curved rod, 10 obstruction, 11 slotwall, 12 gravity
  feed) or a word such as ``Shelf``/``Peg``.
- ``Product``: upc, id, name, key, width, height, depth, color, brand, subcategory, price.
- ``Position``: upc, id, key, x, width, y, height, z, depth, slope, angle, roll, merch_style,
  hfacings, vfacings, dfacings. ``upc``/``id`` name the product; ``x, y`` are the lower-left
  of the block of facings, in planogram coordinates (``position_origin="planogram"``) or, as
  some exports write them, relative to the fixture's left edge and top surface
  (``position_origin="fixture"``). ``width``/``height`` (the block size) are not needed: the
  product size times the facings is authoritative.

Other record types (``Performance``, ``Drawing``, …) are skipped.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Literal

from shelfscan.identifiers import slugify
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import (
    Bay,
    Fixture,
    FixtureType,
    Planogram,
    Position,
    Product,
    Unit,
)
from shelfscan.planogram.source import Imported, decode_text
from shelfscan.planogram.validation import SourceLocator, check_units, parse_unit

PositionOrigin = Literal["planogram", "fixture"]

# Field names per record, in file order after the record type (for messages and the exporter).
FIELDS: dict[str, tuple[str, ...]] = {
    "Project": ("Name",),
    "Planogram": ("Name", "Key", "Width", "Height", "Depth"),
    "Segment": ("Name", "Key", "X", "Y", "Width", "Height", "Depth"),
    "Fixture": ("Name", "Color", "Type", "X", "Y", "Width", "Height", "Depth", "Slope"),
    "Product": (
        "UPC",
        "ID",
        "Name",
        "Key",
        "Width",
        "Height",
        "Depth",
        "Color",
        "Brand",
        "Subcategory",
        "Price",
    ),
    "Position": (
        "UPC",
        "ID",
        "Key",
        "X",
        "Width",
        "Y",
        "Height",
        "Z",
        "Depth",
        "Slope",
        "Angle",
        "Roll",
        "MerchStyle",
        "HFacings",
        "VFacings",
        "DFacings",
    ),
}

FIXTURE_TYPE_CODES: dict[int, FixtureType] = {
    0: FixtureType.SHELF,
    1: FixtureType.BASKET,
    2: FixtureType.BASKET,
    3: FixtureType.SHELF,
    4: FixtureType.PEG,
    5: FixtureType.PEG,
    6: FixtureType.BAR,
    7: FixtureType.PEG,
    8: FixtureType.PEG,
    9: FixtureType.PEG,
    10: FixtureType.OTHER,
    11: FixtureType.PEG,
    12: FixtureType.SHELF,
}
FIXTURE_TYPE_WORDS: dict[str, FixtureType] = {
    "shelf": FixtureType.SHELF,
    "polygonal shelf": FixtureType.SHELF,
    "gravity feed": FixtureType.SHELF,
    "chest": FixtureType.BASKET,
    "bin": FixtureType.BASKET,
    "basket": FixtureType.BASKET,
    "rod": FixtureType.PEG,
    "lateral rod": FixtureType.PEG,
    "curved rod": FixtureType.PEG,
    "peg": FixtureType.PEG,
    "pegboard": FixtureType.PEG,
    "multi-row pegboard": FixtureType.PEG,
    "slotwall": FixtureType.PEG,
    "bar": FixtureType.BAR,
    "obstruction": FixtureType.OTHER,
    "other": FixtureType.OTHER,
}
# Codes written by the exporter for each canonical type.
FIXTURE_TYPE_EXPORT_CODES: dict[FixtureType, int] = {
    FixtureType.SHELF: 0,
    FixtureType.BASKET: 2,
    FixtureType.PEG: 7,
    FixtureType.BAR: 6,
    FixtureType.OTHER: 10,
}


@dataclass
class _Record:
    line: int
    kind: str
    fields: list[str]  # without the record type

    @property
    def where(self) -> str:
        return f"line {self.line} ({self.kind})"


@dataclass
class _RawFixture:
    record: _Record
    fixture: Fixture  # in file coordinates (lower-left origin) until flipped
    positions: list[tuple[_Record, Position, str]] = field(default_factory=list)


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def text(self, record: _Record, index: int) -> str:
        return record.fields[index - 1].strip() if index <= len(record.fields) else ""

    def name_of(self, record: _Record, index: int) -> str:
        return FIELDS[record.kind][index - 1]

    def number(
        self, record: _Record, index: int, *, required: bool = True, default: float = math.nan
    ) -> float:
        raw = self.text(record, index)
        if raw == "":
            if required:
                self.problems.append(
                    Problem(record.where, f"field '{self.name_of(record, index)}' is missing")
                )
            return default
        try:
            return float(raw)
        except ValueError:
            self.problems.append(
                Problem(
                    record.where, f"field '{self.name_of(record, index)}' is not a number: {raw!r}"
                )
            )
            return math.nan

    def integer(self, record: _Record, index: int, *, default: int) -> int:
        raw = self.text(record, index)
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value != int(value):
            self.problems.append(
                Problem(
                    record.where,
                    f"field '{self.name_of(record, index)}' is not a whole number: {raw!r}",
                )
            )
            return default
        return int(value)


def _records(text: str) -> list[_Record]:
    records = []
    reader = csv.reader(io.StringIO(text), escapechar="\\", skipinitialspace=False)
    for row in reader:
        if not row or not row[0].strip():
            continue
        records.append(_Record(reader.line_num, row[0].strip(), row[1:]))
    return records


def _fixture_type(reader: _Reader, record: _Record) -> FixtureType:
    raw = reader.text(record, 3)
    if raw == "":
        return FixtureType.SHELF
    try:
        code = int(float(raw))
    except ValueError:
        word = FIXTURE_TYPE_WORDS.get(raw.lower())
        if word is None:
            reader.problems.append(
                Problem(record.where, f"field 'Type' is not a fixture type: {raw!r}")
            )
            return FixtureType.OTHER
        return word
    if code not in FIXTURE_TYPE_CODES:
        reader.problems.append(Problem(record.where, f"field 'Type' has unknown code {code}"))
        return FixtureType.OTHER
    return FIXTURE_TYPE_CODES[code]


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}#{n}", n + 1
    taken.add(candidate)
    return candidate


def parse_psa(
    data: bytes | str,
    *,
    planogram_id: str | None = None,
    unit: Unit | None = None,
    position_origin: PositionOrigin = "planogram",
) -> Imported:
    """Read a ``.psa`` file into the canonical model (top-left origin).

    Raises ``PlanogramError`` with every record-level problem found (bad numbers, positions with
    no fixture before them, unknown products, conflicting units, …) located by line.
    """
    text = (
        decode_text(data, encodings=("utf-8", "cp1252"), what="ProSpace file")
        if isinstance(data, bytes)
        else data
    )
    records = _records(text)
    reader = _Reader()
    problems = reader.problems
    locator = SourceLocator(whole_file="file")

    planogram_record: _Record | None = None
    unit_declarations: list[tuple[str, str]] = []
    bays: list[tuple[_Record, Bay]] = []
    raw_fixtures: list[_RawFixture] = []
    products: list[tuple[_Record, Product]] = []
    bay_ids: set[str] = set()
    fixture_ids: set[str] = set()
    position_counts: dict[str, int] = {}
    pending_positions: list[tuple[_Record, _RawFixture | None]] = []

    for record in records:
        kind = record.kind
        if kind in ("Project", "Planogram"):
            for value in record.fields:
                if parse_unit(value) is not None:
                    unit_declarations.append((record.where, value.strip()))
            if kind == "Planogram":
                if planogram_record is not None:
                    problems.append(
                        Problem(
                            record.where,
                            f"a second Planogram record (the first is at {planogram_record.where});"
                            " split the file, one planogram each",
                        )
                    )
                    continue
                planogram_record = record
        elif kind == "Segment":
            name = reader.text(record, 1) or f"segment {len(bays) + 1}"
            bay = Bay(
                id=_unique(name, bay_ids),
                name=reader.text(record, 1) or None,
                x=reader.number(record, 3, required=False, default=0.0),
                w=reader.number(record, 5, required=False, default=math.nan),
            )
            if bay.w is not None and math.isnan(bay.w):
                bay.w = None
            bays.append((record, bay))
        elif kind == "Fixture":
            name = reader.text(record, 1) or f"fixture {len(raw_fixtures) + 1}"
            fixture = Fixture(
                id=_unique(name, fixture_ids),
                type=_fixture_type(reader, record),
                x=reader.number(record, 4),
                y=reader.number(record, 5),
                w=reader.number(record, 6),
                h=reader.number(record, 7, required=False, default=0.0),
                bay_id=bays[-1][1].id if bays else None,
            )
            raw_fixtures.append(_RawFixture(record, fixture))
        elif kind == "Product":
            upc = reader.text(record, 1)
            ident = reader.text(record, 2) or upc
            if not ident:
                problems.append(Problem(record.where, "fields 'UPC' and 'ID' are both empty"))
            depth = reader.number(record, 7, required=False, default=math.nan)
            products.append(
                (
                    record,
                    Product(
                        id=ident,
                        gtin=upc if upc.isdigit() else None,
                        name=reader.text(record, 3) or ident,
                        brand=reader.text(record, 9) or None,
                        category=reader.text(record, 10) or None,
                        w=reader.number(record, 5),
                        h=reader.number(record, 6),
                        depth=None if math.isnan(depth) else depth,
                    ),
                )
            )
        elif kind == "Position":
            if not raw_fixtures:
                problems.append(
                    Problem(
                        record.where,
                        "Position record before any Fixture record; each position belongs to "
                        "the fixture above it",
                    )
                )
                pending_positions.append((record, None))
            else:
                pending_positions.append((record, raw_fixtures[-1]))

    if planogram_record is None:
        problems.append(Problem("file", "no Planogram record"))
        width = height = math.nan
        name = ""
    else:
        width = reader.number(planogram_record, 3)
        height = reader.number(planogram_record, 4)
        name = reader.text(planogram_record, 1)
        locator.lines[("planogram", None)] = planogram_record.where
        locator.field_names["planogram"] = {"width": "Width", "height": "Height", "id": "Name"}

    problems.extend(check_units(unit_declarations))
    declared = parse_unit(unit_declarations[0][1]) if unit_declarations else None
    if unit is not None and declared is not None and unit != declared:
        problems.append(
            Problem(
                unit_declarations[0][0],
                f"mixed units: the file declares {declared.value!r} but {unit.value!r} was asked "
                "for",
            )
        )

    # Products can be listed after the positions that use them, so resolve references last.
    by_id: dict[str, Product] = {}
    by_upc: dict[str, Product] = {}
    for _, product in products:
        by_id.setdefault(product.id, product)
        if product.gtin:
            by_upc.setdefault(product.gtin, product)

    positions: list[tuple[_Record, Position]] = []
    for record, owner in pending_positions:
        upc, ident = reader.text(record, 1), reader.text(record, 2)
        product = by_id.get(ident) if ident else None
        product = product or by_upc.get(upc) or by_id.get(upc)
        if product is None:
            problems.append(
                Problem(
                    record.where,
                    f"unknown product (UPC {upc!r}, ID {ident!r}): no Product record has it",
                )
            )
        x = reader.number(record, 4)
        y = reader.number(record, 6)
        hfacings = reader.integer(record, 14, default=1)
        vfacings = reader.integer(record, 15, default=1)
        if owner is None:
            continue
        fixture = owner.fixture
        count = position_counts.get(fixture.id, 0) + 1
        position_counts[fixture.id] = count
        if position_origin == "fixture":
            x += fixture.x
            y += fixture.y + fixture.h
        product_h = product.h if product is not None else math.nan
        position = Position(
            id=f"{fixture.id}-{count}",
            product_id=product.id if product is not None else ident or upc,
            fixture_id=fixture.id,
            x=x,
            # Lower-left of the block (y up) to the top-left of its first facing (y down).
            y=height - (y + vfacings * product_h),
            hfacings=hfacings,
            vfacings=vfacings,
        )
        owner.positions.append((record, position))
        positions.append((record, position))

    if problems:
        raise PlanogramError(problems)

    fixtures = []
    for raw in raw_fixtures:
        f = raw.fixture
        # Lower-left corner with y up to top-left with y down: the top surface is y + thickness.
        fixtures.append(f.model_copy(update={"y": height - (f.y + f.h)}))
        ordered = sorted(raw.positions, key=lambda item: item[1].x)
        for sequence, (_, position) in enumerate(ordered, start=1):
            position.sequence = sequence

    for index, (record, _) in enumerate(bays):
        locator.lines[("bays", index)] = record.where
    for index, raw in enumerate(raw_fixtures):
        locator.lines[("fixtures", index)] = raw.record.where
    for index, (record, _) in enumerate(products):
        locator.lines[("products", index)] = record.where
    for index, (record, _) in enumerate(positions):
        locator.lines[("positions", index)] = record.where
    locator.field_names.update(
        {
            "bays": {"x": "X", "w": "Width", "id": "Name"},
            "fixtures": {"x": "X", "y": "Y", "w": "Width", "h": "Height", "id": "Name"},
            "products": {"w": "Width", "h": "Height", "depth": "Depth", "gtin": "UPC", "id": "ID"},
            "positions": {
                "x": "X",
                "y": "Y",
                "hfacings": "HFacings",
                "vfacings": "VFacings",
                "product_id": "ID",
                "fixture_id": "Fixture",
            },
        }
    )
    planogram = Planogram(
        id=planogram_id or slugify(name, fallback="psa"),
        name=name,
        unit=unit or declared or Unit.IN,
        width=width,
        height=height,
        bays=[bay for _, bay in bays],
        fixtures=fixtures,
        products=[product for _, product in products],
        positions=[position for _, position in positions],
    )
    return Imported(planogram, locator, "psa")


def import_psa(data: bytes | str, **options: object) -> Planogram:
    """The canonical planogram of a ``.psa`` file (see ``parse_psa`` for options)."""
    return parse_psa(data, **options).planogram  # type: ignore[arg-type]


def _field(value: object) -> str:
    text = "" if value is None else str(value)
    if isinstance(value, float):
        text = repr(value)  # shortest text that reads back to the same float
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("\n", " ")


def export_psa(planogram: Planogram) -> str:
    """A ``.psa`` text of ``planogram`` (lower-left origin, absolute position coordinates).

    Meant for round trips and test fixtures; encode it as cp1252 to write a file.
    """
    height = planogram.height
    lines = [
        ["Project", planogram.name or planogram.id, planogram.unit.value],
        ["Planogram", planogram.name or planogram.id, planogram.id, planogram.width, height, ""],
    ]
    for product in planogram.products:
        lines.append(
            [
                "Product",
                product.gtin or "",
                product.id,
                product.name,
                "",
                product.w,
                product.h,
                product.depth if product.depth is not None else "",
                "",
                product.brand or "",
                product.category or "",
                "",
            ]
        )
    products = planogram.product_by_id()
    fixtures_by_bay: dict[str | None, list[Fixture]] = {}
    for fixture in planogram.fixtures:
        fixtures_by_bay.setdefault(fixture.bay_id, []).append(fixture)
    positions_by_fixture: dict[str, list[Position]] = {}
    for position in planogram.positions:
        positions_by_fixture.setdefault(position.fixture_id, []).append(position)

    def emit_fixture(fixture: Fixture) -> None:
        lines.append(
            [
                "Fixture",
                fixture.id,
                "",
                FIXTURE_TYPE_EXPORT_CODES[fixture.type],
                fixture.x,
                height - fixture.y - fixture.h,
                fixture.w,
                fixture.h,
                "",
                "",
            ]
        )
        for position in positions_by_fixture.get(fixture.id, []):
            product = products[position.product_id]
            block_h = position.vfacings * product.h
            lines.append(
                [
                    "Position",
                    product.gtin or "",
                    product.id,
                    "",
                    position.x,
                    position.hfacings * product.w,
                    height - position.y - block_h,
                    block_h,
                    0,
                    "",
                    0,
                    0,
                    0,
                    0,
                    position.hfacings,
                    position.vfacings,
                    1,
                ]
            )

    # Fixtures outside any bay first: after a Segment record they would be read as its own.
    for fixture in fixtures_by_bay.pop(None, []):
        emit_fixture(fixture)
    for bay in planogram.bays:
        lines.append(
            ["Segment", bay.id, "", bay.x, 0.0, bay.w if bay.w is not None else "", height, ""]
        )
        for fixture in fixtures_by_bay.pop(bay.id, []):
            emit_fixture(fixture)
    for fixtures in fixtures_by_bay.values():
        for fixture in fixtures:
            emit_fixture(fixture)
    return "".join(",".join(_field(v) for v in line) + "\r\n" for line in lines)
