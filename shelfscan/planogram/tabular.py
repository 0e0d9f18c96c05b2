"""Simple tabular planograms (CSV or XLSX): one row per block of facings, laid out left to right.

Retailer exports list, per row, a shelf, a sequence along it, the product (id and/or GTIN), its
facings and usually its size. Column names are matched case- and spacing-insensitively:

============  =========================================================  ========
column        aliases                                                    required
============  =========================================================  ========
shelf         shelf_number, shelf_no, fixture                            yes
sequence      seq, sequence_number, position                             yes
product       product_id, sku, item, item_id                             product or gtin
gtin          upc, ean, barcode                                          product or gtin
facings       hfacings, h_facings, horizontal_facings                    no (1)
vfacings      v_facings, vertical_facings                                no (1)
width         w, product_width                                           yes (or a catalogue)
height        h, product_height                                          yes (or a catalogue)
depth, name, brand, category, unit                                       no
bay           segment, module                                            no
shelf_y       shelf_top (top surface of the shelf, from the top, y down)  no
x             offset (left edge of the block within its bay)              no
planogram     planogram_id, pog                                          no
============  =========================================================  ========

Shelves are numbered from the bottom up by default (``shelf_order="top-down"`` for the other
convention); without ``shelf_y`` they are spaced to fit their tallest stack plus a clearance, or
evenly when the planogram ``height`` is given. Bays are laid out left to right.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shelfscan.identifiers import slugify
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.limits import (
    DEFAULT_LIMITS,
    PlanogramLimits,
    PlanogramTooLarge,
    over_limit,
)
from shelfscan.planogram.model import Bay, Fixture, FixtureType, Planogram, Position, Product, Unit
from shelfscan.planogram.source import Imported, decode_text
from shelfscan.planogram.validation import SourceLocator, check_units, parse_unit

ShelfOrder = Literal["bottom-up", "top-down"]

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "shelf": ("shelf", "shelf_number", "shelf_no", "fixture"),
    "sequence": ("sequence", "seq", "sequence_number", "position"),
    "product": ("product", "product_id", "sku", "item", "item_id"),
    "gtin": ("gtin", "upc", "ean", "barcode"),
    "facings": ("facings", "hfacings", "h_facings", "horizontal_facings"),
    "vfacings": ("vfacings", "v_facings", "vertical_facings"),
    "width": ("width", "w", "product_width"),
    "height": ("height", "h", "product_height"),
    "depth": ("depth", "d", "product_depth"),
    "name": ("name", "product_name", "description"),
    "brand": ("brand",),
    "category": ("category", "subcategory"),
    "unit": ("unit", "units", "uom"),
    "bay": ("bay", "segment", "module"),
    "shelf_y": ("shelf_y", "shelf_top"),
    "x": ("x", "offset"),
    "planogram": ("planogram", "planogram_id", "pog"),
}


@dataclass(frozen=True)
class TabularLayout:
    """How to turn rows into geometry; sizes are in the planogram's unit."""

    planogram_id: str | None = None
    name: str = ""
    unit: Unit | None = None
    width: float | None = None
    height: float | None = None
    bay_width: float | None = None
    shelf_thickness: float = 0.0
    left_margin: float = 0.0
    gap: float = 0.0
    clearance: float = 0.1
    shelf_order: ShelfOrder = "bottom-up"
    select_planogram: str | None = None
    catalog: Mapping[str, Product] = field(default_factory=dict)


@dataclass
class _Row:
    where: str
    values: dict[str, str]


def _normalise(header: str) -> str:
    return re.sub(r"[\s\-./]+", "_", header.strip().lower()).strip("_")


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _columns(headers: list[str], where: str, problems: list[Problem]) -> dict[str, str]:
    """Canonical column name → header as spelled in the file."""
    found: dict[str, str] = {}
    for header in headers:
        key = _normalise(header)
        for column, aliases in COLUMN_ALIASES.items():
            if key in aliases:
                if column in found:
                    problems.append(
                        Problem(
                            where,
                            f"columns {found[column]!r} and {header!r} both mean {column!r}",
                        )
                    )
                else:
                    found[column] = header
    return found


def _gtin_from_cell(value: str, numeric: bool) -> str:
    """Spreadsheets store GTINs as numbers and drop leading zeros; put them back."""
    if not numeric or not value.isdigit():
        return value
    for length in (8, 12, 13, 14):
        if len(value) <= length:
            return value.zfill(length)
    return value


@dataclass
class _Table:
    """The rows of one tabular planogram and what the stages of ``_build`` share.

    Cell readers append located problems instead of raising, so that each stage reports every
    bad cell it meets; ``raise_problems`` ends the import between stages that need clean input.
    """

    rows: list[_Row]
    headers: dict[str, str]
    layout: TabularLayout
    whole_file: str
    problems: list[Problem]

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    def raise_problems(self) -> None:
        if self.problems:
            raise PlanogramError(self.problems)

    def number(self, row: _Row, column: str, *, default: float | None = None) -> float:
        raw = row.values.get(column, "")
        if raw == "":
            if default is not None:
                return default
            self.problems.append(Problem(row.where, f"column {self.header(column)!r} is empty"))
            return math.nan
        # European exports write decimal commas ("4,9").
        text = raw.replace(",", ".") if re.fullmatch(r"-?\d+,\d+", raw) else raw
        try:
            return float(text)
        except ValueError:
            self.problems.append(
                Problem(row.where, f"column {self.headers[column]!r} is not a number: {raw!r}")
            )
            return math.nan

    def whole(self, row: _Row, column: str, default: int) -> int:
        raw = row.values.get(column, "")
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value != int(value):
            self.problems.append(
                Problem(
                    row.where, f"column {self.headers[column]!r} is not a whole number: {raw!r}"
                )
            )
            return default
        return int(value)


@dataclass
class _Shelves:
    """Rows grouped by (bay, shelf) label, with each row's sequence, facings and product."""

    bay_labels: list[str]
    members: dict[tuple[str, str], list[int]]
    sequences: list[int]
    row_product: list[str]
    facings: list[int] = field(default_factory=list)
    vfacings: list[int] = field(default_factory=list)


@dataclass
class _Horizontal:
    """Where each row's block starts within its bay, and where each bay sits."""

    xs: list[float]
    bay_x: dict[str, float]
    bay_w: dict[str, float]
    width: float


@dataclass
class _Vertical:
    """The y of each shelf label's top surface (shared by the bays), top to bottom."""

    top_down: list[str]
    shelf_y: dict[str, float]
    height: float


def _check_required_columns(table: _Table) -> None:
    headers, whole_file = table.headers, table.whole_file
    for column in ("shelf", "sequence"):
        if column not in headers:
            table.problems.append(Problem(whole_file, f"column {column!r} is missing"))
    if "product" not in headers and "gtin" not in headers:
        table.problems.append(Problem(whole_file, "a 'product' or 'gtin' column is needed"))
    if not table.layout.catalog:
        for column in ("width", "height"):
            if column not in headers:
                table.problems.append(
                    Problem(
                        whole_file,
                        f"column {column!r} is missing: product sizes are needed to lay the "
                        "shelves out (or pass a product catalogue)",
                    )
                )
    table.raise_problems()


def _select_planogram_rows(table: _Table) -> None:
    """Keep the rows of the one planogram in the file (or the one the layout selects)."""
    layout, whole_file = table.layout, table.whole_file
    if "planogram" in table.headers:
        names = sorted({row.values.get("planogram", "") for row in table.rows})
        if layout.select_planogram is not None:
            table.rows = [
                row for row in table.rows if row.values.get("planogram") == layout.select_planogram
            ]
            if not table.rows:
                raise PlanogramError(
                    [Problem(whole_file, f"no rows for planogram {layout.select_planogram!r}")]
                )
        elif len(names) > 1:
            raise PlanogramError(
                [
                    Problem(
                        whole_file,
                        f"the file holds {len(names)} planograms ({', '.join(map(repr, names))});"
                        " choose one",
                    )
                ]
            )
    if not table.rows:
        raise PlanogramError([Problem(whole_file, "no data rows")])


def _unit_of(table: _Table) -> Unit:
    """One unit per file: the rows agree with each other and with the one asked for."""
    rows, layout = table.rows, table.layout
    if "unit" in table.headers:
        table.problems.extend(
            check_units((row.where, row.values["unit"]) for row in rows if row.values.get("unit"))
        )
    declared = next(
        (parse_unit(row.values["unit"]) for row in rows if row.values.get("unit")), None
    )
    if layout.unit is not None and declared is not None and declared != layout.unit:
        table.problems.append(
            Problem(
                table.whole_file,
                f"mixed units: the rows say {declared.value!r} but {layout.unit.value!r} was "
                "asked for",
            )
        )
    return layout.unit or declared or Unit.IN


def _product_of_row(table: _Table, row: _Row, ident: str) -> Product:
    catalog = table.layout.catalog
    known = catalog.get(ident) or catalog.get(row.values.get("gtin", ""))
    w = table.number(row, "width", default=known.w if known else None)
    h = table.number(row, "height", default=known.h if known else None)
    depth_text = row.values.get("depth", "")
    depth = table.number(row, "depth") if depth_text else (known.depth if known else None)
    return Product(
        id=ident,
        gtin=row.values.get("gtin") or (known.gtin if known else None),
        name=row.values.get("name") or (known.name if known else ident),
        brand=row.values.get("brand") or (known.brand if known else None),
        category=row.values.get("category") or (known.category if known else None),
        w=w,
        h=h,
        depth=depth,
        packshots=list(known.packshots) if known else [],
    )


def _collect_products(table: _Table) -> tuple[dict[str, Product], dict[str, _Row], list[str]]:
    """Products, each defined by its first row (later rows must agree), and each row's product.

    Returns the products by id, the row that defined each, and the product id of every row.
    """
    products: dict[str, Product] = {}
    product_rows: dict[str, _Row] = {}
    row_product: list[str] = []
    for row in table.rows:
        ident = row.values.get("product") or row.values.get("gtin") or ""
        if not ident:
            table.problems.append(Problem(row.where, "no product id or GTIN"))
        candidate = _product_of_row(table, row, ident)
        row_product.append(ident)
        if ident not in products:
            products[ident] = candidate
            product_rows[ident] = row
            continue
        first = products[ident]
        for attribute, column in (("w", "width"), ("h", "height"), ("name", "name")):
            mine, theirs = getattr(candidate, attribute), getattr(first, attribute)
            same = mine == theirs or (
                isinstance(mine, float) and math.isnan(mine) and math.isnan(theirs)
            )
            if not same:
                table.problems.append(
                    Problem(
                        row.where,
                        f"product {ident!r}: {table.header(column)} {mine!r} differs from "
                        f"{theirs!r} given at {product_rows[ident].where}",
                    )
                )
    return products, product_rows, row_product


def _group_shelves(table: _Table, row_product: list[str]) -> _Shelves:
    """Rows by (bay, shelf); each (bay, shelf, sequence) used once."""
    rows, headers = table.rows, table.headers
    bay_labels = sorted({row.values.get("bay", "") for row in rows}, key=_sort_key)
    members: dict[tuple[str, str], list[int]] = {}
    seen_sequence: dict[tuple[str, str, int], _Row] = {}
    sequences: list[int] = []
    for index, row in enumerate(rows):
        bay = row.values.get("bay", "")
        shelf = row.values.get("shelf", "")
        if not shelf:
            table.problems.append(Problem(row.where, f"column {headers['shelf']!r} is empty"))
        sequence = table.whole(row, "sequence", 0)
        if row.values.get("sequence", "") == "":
            table.problems.append(Problem(row.where, f"column {headers['sequence']!r} is empty"))
        elif (bay, shelf, sequence) in seen_sequence:
            table.problems.append(
                Problem(
                    row.where,
                    f"sequence {sequence} on shelf {shelf!r} is also used at "
                    f"{seen_sequence[(bay, shelf, sequence)].where}",
                )
            )
        else:
            seen_sequence[(bay, shelf, sequence)] = row
        sequences.append(sequence)
        members.setdefault((bay, shelf), []).append(index)
    return _Shelves(bay_labels, members, sequences, row_product)


def _lay_out_bays(table: _Table, shelves: _Shelves, products: dict[str, Product]) -> _Horizontal:
    """Blocks left to right along each shelf in sequence order; bays side by side."""
    rows, layout = table.rows, table.layout
    shelves.facings = [table.whole(row, "facings", 1) for row in rows]
    shelves.vfacings = [table.whole(row, "vfacings", 1) for row in rows]
    xs: list[float] = [0.0] * len(rows)
    bay_x: dict[str, float] = {}
    bay_w: dict[str, float] = {}
    cursor = 0.0
    for bay in shelves.bay_labels:
        run_end = 0.0
        for (row_bay, _), members in shelves.members.items():
            if row_bay != bay:
                continue
            running = layout.left_margin
            for index in sorted(members, key=lambda i: shelves.sequences[i]):
                product_w = products[shelves.row_product[index]].w
                explicit = rows[index].values.get("x", "")
                x = table.number(rows[index], "x") if explicit else running
                xs[index] = x
                running = x + shelves.facings[index] * product_w + layout.gap
                run_end = max(run_end, x + shelves.facings[index] * product_w)
        width = (
            layout.bay_width
            or (layout.width / len(shelves.bay_labels) if layout.width else None)
            or run_end + layout.left_margin
        )
        bay_x[bay], bay_w[bay] = cursor, width
        cursor += width
    return _Horizontal(xs, bay_x, bay_w, layout.width or cursor)


def _lay_out_shelves(table: _Table, shelves: _Shelves, products: dict[str, Product]) -> _Vertical:
    """Every shelf label gets one height shared by the bays: from ``shelf_y``, evenly over the
    planogram height, or stacked to fit its tallest block plus a clearance."""
    rows, layout, headers = table.rows, table.layout, table.headers
    shelf_labels = sorted({shelf for _, shelf in shelves.members}, key=_sort_key)
    top_down = shelf_labels if layout.shelf_order == "top-down" else shelf_labels[::-1]
    thickness = layout.shelf_thickness
    shelf_y: dict[str, float] = {}
    if "shelf_y" in headers:
        for (_, shelf), members in shelves.members.items():
            for index in members:
                value = table.number(rows[index], "shelf_y")
                if shelf not in shelf_y:
                    shelf_y[shelf] = value
                elif value != shelf_y[shelf]:
                    table.problems.append(
                        Problem(
                            rows[index].where,
                            f"shelf {shelf!r}: {headers['shelf_y']} {value!r} differs from "
                            f"{shelf_y[shelf]!r} in an earlier row",
                        )
                    )
        height = layout.height or max(shelf_y.values()) + thickness
    elif layout.height is not None:
        pitch = layout.height / len(top_down)
        for k, shelf in enumerate(top_down):
            shelf_y[shelf] = (k + 1) * pitch - thickness
        height = layout.height
    else:
        stack: dict[str, float] = dict.fromkeys(shelf_labels, 0.0)
        for (_, shelf), members in shelves.members.items():
            for index in members:
                product_h = products[shelves.row_product[index]].h
                stack[shelf] = max(stack[shelf], shelves.vfacings[index] * product_h)
        y = 0.0
        for shelf in top_down:
            y += stack[shelf] * (1 + layout.clearance)
            shelf_y[shelf] = y
            y += thickness
        height = y
    return _Vertical(top_down, shelf_y, height)


def _source_field_names(headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """Canonical field names → the file's column names, for located problems."""
    product_column = headers.get("product", headers.get("gtin", "product"))
    return {
        "products": {
            "w": headers.get("width", "width"),
            "h": headers.get("height", "height"),
            "depth": headers.get("depth", "depth"),
            "gtin": headers.get("gtin", "gtin"),
            "id": product_column,
            "name": headers.get("name", "name"),
        },
        "positions": {
            "product_id": product_column,
            "fixture_id": headers["shelf"],
            "hfacings": headers.get("facings", "facings"),
            "vfacings": headers.get("vfacings", "vfacings"),
            "sequence": headers["sequence"],
            "x": headers.get("x", "x"),
            "y": headers.get("shelf_y", "shelf"),
        },
        "fixtures": {"y": headers.get("shelf_y", "shelf_y"), "id": headers["shelf"]},
    }


def _assemble(
    table: _Table,
    unit: Unit,
    products: dict[str, Product],
    product_rows: dict[str, _Row],
    shelves: _Shelves,
    across: _Horizontal,
    down: _Vertical,
) -> Imported:
    """The model: a fixture per (bay, shelf), a position per row, each mapped to its row."""
    rows, layout = table.rows, table.layout
    single_bay = len(shelves.bay_labels) == 1
    bays = (
        []
        if single_bay
        else [Bay(id=b, name=b, x=across.bay_x[b], w=across.bay_w[b]) for b in shelves.bay_labels]
    )
    locator = SourceLocator(whole_file=table.whole_file)
    fixtures: list[Fixture] = []
    fixture_of: dict[tuple[str, str], str] = {}
    for bay in shelves.bay_labels:
        for shelf in down.top_down:
            members = shelves.members.get((bay, shelf))
            if not members:
                continue
            fixture_id = shelf if single_bay else f"{bay}/{shelf}"
            fixture_of[(bay, shelf)] = fixture_id
            locator.lines[("fixtures", len(fixtures))] = rows[members[0]].where
            fixtures.append(
                Fixture(
                    id=fixture_id,
                    type=FixtureType.SHELF,
                    x=across.bay_x[bay],
                    y=down.shelf_y[shelf],
                    w=across.bay_w[bay],
                    h=layout.shelf_thickness,
                    bay_id=None if single_bay else bay,
                )
            )
    positions: list[Position] = []
    for index, row in enumerate(rows):
        bay, shelf = row.values.get("bay", ""), row.values["shelf"]
        product = products[shelves.row_product[index]]
        fixture_id = fixture_of[(bay, shelf)]
        locator.lines[("positions", len(positions))] = row.where
        positions.append(
            Position(
                id=f"{fixture_id}-{shelves.sequences[index]}",
                product_id=product.id,
                fixture_id=fixture_id,
                x=across.bay_x[bay] + across.xs[index],
                y=down.shelf_y[shelf] - shelves.vfacings[index] * product.h,
                hfacings=shelves.facings[index],
                vfacings=shelves.vfacings[index],
                sequence=shelves.sequences[index],
            )
        )
    for index, ident in enumerate(products):
        locator.lines[("products", index)] = product_rows[ident].where
    locator.field_names = _source_field_names(table.headers)
    planogram_name = layout.name or next(
        (row.values["planogram"] for row in rows if row.values.get("planogram")), ""
    )
    planogram = Planogram(
        id=layout.planogram_id or slugify(planogram_name, fallback="tabular"),
        name=planogram_name,
        unit=unit,
        width=across.width,
        height=down.height,
        bays=bays,
        fixtures=fixtures,
        products=list(products.values()),
        positions=positions,
    )
    return Imported(planogram, locator, "tabular")


def _build(
    rows: list[_Row],
    headers: dict[str, str],
    layout: TabularLayout,
    problems: list[Problem],
    whole_file: str,
) -> Imported:
    """Rows to a planogram, stage by stage; each stage reports every problem it finds, and
    the import stops after a stage whose output the next one cannot use."""
    table = _Table(rows, headers, layout, whole_file, problems)
    _check_required_columns(table)
    _select_planogram_rows(table)
    unit = _unit_of(table)
    products, product_rows, row_product = _collect_products(table)
    shelves = _group_shelves(table, row_product)
    table.raise_problems()
    across = _lay_out_bays(table, shelves, products)
    table.raise_problems()
    down = _lay_out_shelves(table, shelves, products)
    table.raise_problems()
    return _assemble(table, unit, products, product_rows, shelves, across, down)


def parse_csv(data: bytes | str, layout: TabularLayout | None = None) -> Imported:
    """Read a CSV planogram (comma, semicolon, tab or pipe separated; UTF-8 or cp1252)."""
    layout = layout or TabularLayout()
    text = (
        decode_text(data, encodings=("utf-8", "cp1252"), what="CSV file")
        if isinstance(data, bytes)
        else data
    )
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t|", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    problems: list[Problem] = []
    try:
        header = next(reader)
    except StopIteration:
        raise PlanogramError([Problem("file", "the CSV file is empty")]) from None
    headers = _columns(header, "line 1", problems)
    by_position = {
        index: column
        for column, h in headers.items()
        for index, name in enumerate(header)
        if name == h
    }
    rows: list[_Row] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        where = f"line {reader.line_num}"
        if len(cells) > len(header):
            problems.append(Problem(where, f"{len(cells)} fields but the header has {len(header)}"))
        values = {
            column: cells[index].strip()
            for index, column in by_position.items()
            if index < len(cells)
        }
        if "gtin" in values:
            values["gtin"] = _gtin_from_cell(values["gtin"], numeric=False)
        rows.append(_Row(where, values))
    return _build(rows, headers, layout, problems, "file")


def _cell_text(value: object) -> tuple[str, bool]:
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)), True
    return str(value).strip(), False


def get_column_letter(column: int) -> str:
    """Spreadsheet column letters: 1 → ``A``, 27 → ``AA``, 16384 → ``XFD``."""
    letters = ""
    while column > 0:
        column, remainder = divmod(column - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters or "A"


def _check_unpacked_size(data: bytes, limits: PlanogramLimits) -> None:
    """Refuse a workbook whose parts unpack to more than the limit (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise PlanogramError([Problem("file", f"not a readable .xlsx workbook: {error}")]) from None
    if unpacked > limits.max_unpacked_bytes:
        raise PlanogramTooLarge(
            [
                over_limit(
                    "file",
                    "bytes unpacked",
                    unpacked,
                    limits.max_unpacked_bytes,
                    "max_unpacked_bytes",
                )
            ]
        )


def _check_sheet_dimension(worksheet: Any, prefix: str, limits: PlanogramLimits) -> None:
    """Refuse a sheet whose declared used range is absurd, before reading a cell of it.

    Reading pads every row to the sheet's width and fills every missing row, so one cell at
    ``XFD20000`` would cost hundreds of millions of empty cells.
    """
    max_row, max_column = worksheet.max_row, worksheet.max_column
    for count, limit, what, setting in (
        (max_row, limits.max_sheet_rows, "rows", "max_sheet_rows"),
        (max_column, limits.max_sheet_columns, "columns", "max_sheet_columns"),
    ):
        if count is not None and count > limit:
            corner = f"{get_column_letter(max_column or 1)}{max_row or 1}"
            raise PlanogramTooLarge(
                [
                    Problem(
                        f"{prefix} cell {corner}",
                        f"the sheet's cells reach {corner}, {count:,} {what}: more than the "
                        f"limit of {limit:,} {what} ({setting}); delete the cells outside the "
                        "table or copy the table to a new sheet",
                    )
                ]
            )


def _sheet_rows(
    worksheet: Any, prefix: str, limits: PlanogramLimits
) -> tuple[list[str], list[tuple[int, list[tuple[str, bool]]]]]:
    """The header texts and the non-empty data rows (row number, cell texts), reading no
    further right than the header and no lower than the row limit."""
    header_cells = next(
        worksheet.iter_rows(
            min_row=1, max_row=1, max_col=limits.max_sheet_columns + 1, values_only=True
        ),
        (),
    )
    header = [_cell_text(value)[0] for value in header_cells]
    while header and not header[-1]:
        header.pop()
    if len(header) > limits.max_sheet_columns:
        corner = f"{get_column_letter(len(header))}1"
        raise PlanogramTooLarge(
            [
                Problem(
                    f"{prefix} cell {corner}",
                    f"the header reaches column {corner[:-1]}: more than the limit of "
                    f"{limits.max_sheet_columns:,} columns (max_sheet_columns)",
                )
            ]
        )
    rows: list[tuple[int, list[tuple[str, bool]]]] = []
    width = max(len(header), 1)
    # No max_row: the reader then stops at the sheet's last row (or its declared dimension,
    # already checked), and the loop stops at the limit, so missing rows cost nothing past it.
    for number, cells in enumerate(
        worksheet.iter_rows(min_row=2, max_col=width, values_only=True), start=2
    ):
        if number > limits.max_sheet_rows:
            raise PlanogramTooLarge(
                [
                    Problem(
                        f"{prefix} row {number}",
                        f"the sheet goes on past row {limits.max_sheet_rows:,}: more than the "
                        f"limit of {limits.max_sheet_rows:,} rows (max_sheet_rows)",
                    )
                ]
            )
        if not any(value is not None and value != "" for value in cells):
            continue
        texts = [_cell_text(value) for value in cells]
        if not any(text for text, _ in texts):
            continue
        rows.append((number, texts))
    return header, rows


def parse_xlsx(
    data: bytes,
    layout: TabularLayout | None = None,
    *,
    sheet: str | int = 0,
    limits: PlanogramLimits = DEFAULT_LIMITS,
) -> Imported:
    """Read an XLSX planogram from its first sheet (or ``sheet``, by name or index).

    Reading is bounded by ``limits``: what the file unpacks to, the sheet's declared used
    range, and the rows and columns actually read (columns beyond the header's last cell are
    not read at all).
    """
    from openpyxl import load_workbook  # an adapter dependency, only needed here

    layout = layout or TabularLayout()
    _check_unpacked_size(data, limits)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise PlanogramError([Problem("file", f"not a readable .xlsx workbook: {error}")]) from None
    try:
        if isinstance(sheet, int):
            if sheet >= len(workbook.worksheets):
                raise PlanogramError([Problem("file", f"the workbook has no sheet {sheet}")])
            worksheet = workbook.worksheets[sheet]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise PlanogramError(
                [Problem("file", f"no sheet {sheet!r}; sheets: {workbook.sheetnames}")]
            )
        prefix = f"sheet {worksheet.title!r}"
        _check_sheet_dimension(worksheet, prefix, limits)
        header, sheet_rows = _sheet_rows(worksheet, prefix, limits)
    finally:
        workbook.close()
    if not header and not sheet_rows:
        raise PlanogramError([Problem(prefix, "the sheet is empty")])
    problems: list[Problem] = []
    headers = _columns(header, f"{prefix} row 1", problems)
    by_position = {
        index: column
        for column, h in headers.items()
        for index, name in enumerate(header)
        if name == h
    }
    rows: list[_Row] = []
    for number, texts in sheet_rows:
        values = {}
        for index, column in by_position.items():
            if index < len(texts):
                text, numeric = texts[index]
                values[column] = _gtin_from_cell(text, numeric) if column == "gtin" else text
        rows.append(_Row(f"{prefix} row {number}", values))
    return _build(rows, headers, layout, problems, prefix)
