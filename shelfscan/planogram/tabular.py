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
from typing import Literal

from shelfscan.planogram.errors import PlanogramError, Problem
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


def _build(
    rows: list[_Row],
    headers: dict[str, str],
    layout: TabularLayout,
    problems: list[Problem],
    whole_file: str,
) -> Imported:
    for column in ("shelf", "sequence"):
        if column not in headers:
            problems.append(Problem(whole_file, f"column {column!r} is missing"))
    if "product" not in headers and "gtin" not in headers:
        problems.append(Problem(whole_file, "a 'product' or 'gtin' column is needed"))
    if not layout.catalog:
        for column in ("width", "height"):
            if column not in headers:
                problems.append(
                    Problem(
                        whole_file,
                        f"column {column!r} is missing: product sizes are needed to lay the "
                        "shelves out (or pass a product catalogue)",
                    )
                )
    if problems:
        raise PlanogramError(problems)

    if "planogram" in headers:
        names = sorted({row.values.get("planogram", "") for row in rows})
        if layout.select_planogram is not None:
            rows = [row for row in rows if row.values.get("planogram") == layout.select_planogram]
            if not rows:
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
    if not rows:
        raise PlanogramError([Problem(whole_file, "no data rows")])

    def number(row: _Row, column: str, *, default: float | None = None) -> float:
        raw = row.values.get(column, "")
        if raw == "":
            if default is not None:
                return default
            problems.append(Problem(row.where, f"column {headers.get(column, column)!r} is empty"))
            return math.nan
        # European exports write decimal commas ("4,9").
        text = raw.replace(",", ".") if re.fullmatch(r"-?\d+,\d+", raw) else raw
        try:
            return float(text)
        except ValueError:
            problems.append(
                Problem(row.where, f"column {headers[column]!r} is not a number: {raw!r}")
            )
            return math.nan

    def whole(row: _Row, column: str, default: int) -> int:
        raw = row.values.get(column, "")
        if raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value != int(value):
            problems.append(
                Problem(row.where, f"column {headers[column]!r} is not a whole number: {raw!r}")
            )
            return default
        return int(value)

    # Units: one per file.
    if "unit" in headers:
        problems.extend(
            check_units((row.where, row.values["unit"]) for row in rows if row.values.get("unit"))
        )
    declared = next(
        (parse_unit(row.values["unit"]) for row in rows if row.values.get("unit")), None
    )
    if layout.unit is not None and declared is not None and declared != layout.unit:
        problems.append(
            Problem(
                whole_file,
                f"mixed units: the rows say {declared.value!r} but {layout.unit.value!r} was "
                "asked for",
            )
        )
    unit = layout.unit or declared or Unit.IN

    # Products, defined by their first row; later rows must agree.
    products: dict[str, Product] = {}
    product_rows: dict[str, _Row] = {}
    row_product: list[str] = []
    for row in rows:
        ident = row.values.get("product") or row.values.get("gtin") or ""
        if not ident:
            problems.append(Problem(row.where, "no product id or GTIN"))
        known = layout.catalog.get(ident) or layout.catalog.get(row.values.get("gtin", ""))
        w = number(row, "width", default=known.w if known else None)
        h = number(row, "height", default=known.h if known else None)
        depth_text = row.values.get("depth", "")
        depth = number(row, "depth") if depth_text else (known.depth if known else None)
        candidate = Product(
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
                problems.append(
                    Problem(
                        row.where,
                        f"product {ident!r}: {headers.get(column, column)} {mine!r} differs from "
                        f"{theirs!r} given at {product_rows[ident].where}",
                    )
                )

    # Group rows by bay and shelf.
    bay_labels = sorted({row.values.get("bay", "") for row in rows}, key=_sort_key)
    shelves: dict[tuple[str, str], list[int]] = {}
    seen_sequence: dict[tuple[str, str, int], _Row] = {}
    sequences: list[int] = []
    for index, row in enumerate(rows):
        bay = row.values.get("bay", "")
        shelf = row.values.get("shelf", "")
        if not shelf:
            problems.append(Problem(row.where, f"column {headers['shelf']!r} is empty"))
        sequence = whole(row, "sequence", 0)
        if row.values.get("sequence", "") == "":
            problems.append(Problem(row.where, f"column {headers['sequence']!r} is empty"))
        elif (bay, shelf, sequence) in seen_sequence:
            problems.append(
                Problem(
                    row.where,
                    f"sequence {sequence} on shelf {shelf!r} is also used at "
                    f"{seen_sequence[(bay, shelf, sequence)].where}",
                )
            )
        else:
            seen_sequence[(bay, shelf, sequence)] = row
        sequences.append(sequence)
        shelves.setdefault((bay, shelf), []).append(index)
    if problems:
        raise PlanogramError(problems)

    # Horizontal layout, bay by bay.
    facings = [whole(row, "facings", 1) for row in rows]
    vfacings = [whole(row, "vfacings", 1) for row in rows]
    xs: list[float] = [0.0] * len(rows)
    bay_x: dict[str, float] = {}
    bay_w: dict[str, float] = {}
    cursor = 0.0
    for bay in bay_labels:
        run_end = 0.0
        for (row_bay, _), members in shelves.items():
            if row_bay != bay:
                continue
            running = layout.left_margin
            for index in sorted(members, key=lambda i: sequences[i]):
                product = products[row_product[index]]
                explicit = rows[index].values.get("x", "")
                x = number(rows[index], "x") if explicit else running
                xs[index] = x
                running = x + facings[index] * product.w + layout.gap
                run_end = max(run_end, x + facings[index] * product.w)
        width = (
            layout.bay_width
            or (layout.width / len(bay_labels) if layout.width else None)
            or run_end + layout.left_margin
        )
        bay_x[bay], bay_w[bay] = cursor, width
        cursor += width
    if problems:
        raise PlanogramError(problems)

    # Vertical layout: every shelf label gets one height shared by the bays.
    shelf_labels = sorted({shelf for _, shelf in shelves}, key=_sort_key)
    top_down = shelf_labels if layout.shelf_order == "top-down" else shelf_labels[::-1]
    thickness = layout.shelf_thickness
    shelf_y: dict[str, float] = {}
    if "shelf_y" in headers:
        for (_, shelf), members in shelves.items():
            for index in members:
                value = number(rows[index], "shelf_y")
                if shelf not in shelf_y:
                    shelf_y[shelf] = value
                elif value != shelf_y[shelf]:
                    problems.append(
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
        for (_, shelf), members in shelves.items():
            for index in members:
                product_h = products[row_product[index]].h
                stack[shelf] = max(stack[shelf], vfacings[index] * product_h)
        y = 0.0
        for shelf in top_down:
            y += stack[shelf] * (1 + layout.clearance)
            shelf_y[shelf] = y
            y += thickness
        height = y
    if problems:
        raise PlanogramError(problems)

    single_bay = len(bay_labels) == 1
    bays = [] if single_bay else [Bay(id=b, name=b, x=bay_x[b], w=bay_w[b]) for b in bay_labels]
    locator = SourceLocator(whole_file=whole_file)
    fixtures: list[Fixture] = []
    fixture_of: dict[tuple[str, str], str] = {}
    for bay in bay_labels:
        for shelf in top_down:
            members = shelves.get((bay, shelf))
            if not members:
                continue
            fixture_id = shelf if single_bay else f"{bay}/{shelf}"
            fixture_of[(bay, shelf)] = fixture_id
            locator.lines[("fixtures", len(fixtures))] = rows[members[0]].where
            fixtures.append(
                Fixture(
                    id=fixture_id,
                    type=FixtureType.SHELF,
                    x=bay_x[bay],
                    y=shelf_y[shelf],
                    w=bay_w[bay],
                    h=thickness,
                    bay_id=None if single_bay else bay,
                )
            )
    positions: list[Position] = []
    for index, row in enumerate(rows):
        bay, shelf = row.values.get("bay", ""), row.values["shelf"]
        product = products[row_product[index]]
        fixture_id = fixture_of[(bay, shelf)]
        locator.lines[("positions", len(positions))] = row.where
        positions.append(
            Position(
                id=f"{fixture_id}-{sequences[index]}",
                product_id=product.id,
                fixture_id=fixture_id,
                x=bay_x[bay] + xs[index],
                y=shelf_y[shelf] - vfacings[index] * product.h,
                hfacings=facings[index],
                vfacings=vfacings[index],
                sequence=sequences[index],
            )
        )
    for index, ident in enumerate(products):
        locator.lines[("products", index)] = product_rows[ident].where
    locator.field_names = {
        "products": {
            "w": headers.get("width", "width"),
            "h": headers.get("height", "height"),
            "depth": headers.get("depth", "depth"),
            "gtin": headers.get("gtin", "gtin"),
            "id": headers.get("product", headers.get("gtin", "product")),
            "name": headers.get("name", "name"),
        },
        "positions": {
            "product_id": headers.get("product", headers.get("gtin", "product")),
            "fixture_id": headers["shelf"],
            "hfacings": headers.get("facings", "facings"),
            "vfacings": headers.get("vfacings", "vfacings"),
            "sequence": headers["sequence"],
            "x": headers.get("x", "x"),
            "y": headers.get("shelf_y", "shelf"),
        },
        "fixtures": {"y": headers.get("shelf_y", "shelf_y"), "id": headers["shelf"]},
    }
    planogram_name = layout.name or next(
        (row.values["planogram"] for row in rows if row.values.get("planogram")), ""
    )
    planogram = Planogram(
        id=layout.planogram_id or planogram_name or "tabular",
        name=planogram_name,
        unit=unit,
        width=layout.width or cursor,
        height=height,
        bays=bays,
        fixtures=fixtures,
        products=list(products.values()),
        positions=positions,
    )
    return Imported(planogram, locator, "tabular")


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


def parse_xlsx(
    data: bytes, layout: TabularLayout | None = None, *, sheet: str | int = 0
) -> Imported:
    """Read an XLSX planogram from its first sheet (or ``sheet``, by name or index)."""
    from openpyxl import load_workbook  # an adapter dependency, only needed here

    layout = layout or TabularLayout()
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
        all_rows = list(worksheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    if not all_rows:
        raise PlanogramError([Problem(prefix, "the sheet is empty")])
    problems: list[Problem] = []
    header = [_cell_text(value)[0] for value in all_rows[0]]
    headers = _columns(header, f"{prefix} row 1", problems)
    by_position = {
        index: column
        for column, h in headers.items()
        for index, name in enumerate(header)
        if name == h
    }
    rows: list[_Row] = []
    for number, cells in enumerate(all_rows[1:], start=2):
        texts = [_cell_text(value) for value in cells]
        if not any(text for text, _ in texts):
            continue
        values = {}
        for index, column in by_position.items():
            if index < len(texts):
                text, numeric = texts[index]
                values[column] = _gtin_from_cell(text, numeric) if column == "gtin" else text
        rows.append(_Row(f"{prefix} row {number}", values))
    return _build(rows, headers, layout, problems, prefix)
