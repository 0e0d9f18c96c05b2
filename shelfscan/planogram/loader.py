"""Load a planogram from any supported file: detect the format, guard size and encoding, import,
validate, and report every problem with its location in that file.

Size limits are one policy, ``PlanogramLimits`` (``shelfscan.planogram.limits``): file bytes,
JSON depth and number length, spreadsheet rows and columns, and the number of positions,
products, fixtures, bays and facings. A planogram over a limit is refused with
``PlanogramTooLarge`` (a ``PlanogramError``) whose problem names the limit and the count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from shelfscan.identifiers import slugify
from shelfscan.planogram.azure_json import import_azure_planogram
from shelfscan.planogram.canonical import planogram_from_dict
from shelfscan.planogram.errors import PlanogramError, Problem, cap_problems
from shelfscan.planogram.limits import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_BYTES,
    PlanogramLimits,
    PlanogramTooLarge,
    over_limit,
)
from shelfscan.planogram.model import Planogram, Unit
from shelfscan.planogram.psa import PositionOrigin, parse_psa
from shelfscan.planogram.source import Imported, decode_text
from shelfscan.planogram.tabular import TabularLayout, parse_csv, parse_xlsx
from shelfscan.planogram.validation import (
    CANONICAL_LOCATOR,
    AzureLocator,
    Locator,
    validate_planogram,
)
from shelfscan.safe_json import JsonRejected, loads_bounded

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BYTES",
    "LoadResult",
    "PlanogramFormat",
    "PlanogramLimits",
    "PlanogramTooLarge",
    "detect_format",
    "import_document",
    "json_flavour",
    "load_planogram_bytes",
    "load_planogram_document",
    "load_planogram_file",
    "read_planogram",
]


class PlanogramFormat(StrEnum):
    CANONICAL = "canonical"
    AZURE = "azure"
    PSA = "psa"
    CSV = "csv"
    XLSX = "xlsx"


_EXTENSIONS = {
    ".psa": PlanogramFormat.PSA,
    ".csv": PlanogramFormat.CSV,
    ".tsv": PlanogramFormat.CSV,
    ".txt": PlanogramFormat.CSV,
    ".xlsx": PlanogramFormat.XLSX,
    ".xlsm": PlanogramFormat.XLSX,
}
_PSA_RECORDS = (b"Project,", b"Planogram,", b"Segment,", b"Fixture,", b"Product,", b"Position,")


@dataclass
class LoadResult:
    """The outcome of reading a planogram file: the model if it could be built, and problems."""

    planogram: Planogram | None
    problems: list[Problem] = field(default_factory=list)
    format: PlanogramFormat | None = None
    locate: Locator = CANONICAL_LOCATOR
    # True when the problems are size limits (``PlanogramTooLarge``): an API answers 413.
    too_large: bool = False

    @property
    def ok(self) -> bool:
        return self.planogram is not None and not self.problems


def json_flavour(document: Any) -> PlanogramFormat:
    """Canonical (snake_case, with an id) or Azure (camelCase/PascalCase) planogram JSON."""
    if not isinstance(document, Mapping):
        return PlanogramFormat.CANONICAL
    if any(key in document for key in ("Positions", "Products", "Fixtures", "Width", "Height")):
        return PlanogramFormat.AZURE
    positions = document.get("positions")
    if isinstance(positions, list) and positions and isinstance(positions[0], Mapping):
        if "productId" in positions[0] or "fixtureId" in positions[0]:
            return PlanogramFormat.AZURE
        if "product_id" in positions[0] or "fixture_id" in positions[0]:
            return PlanogramFormat.CANONICAL
    return (
        PlanogramFormat.CANONICAL
        if "id" in document or "unit" in document
        else (PlanogramFormat.AZURE)
    )


def detect_format(data: bytes, filename: str | None = None) -> PlanogramFormat:
    """The format of ``data``: by file extension first, else by content."""
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix == ".json":
        return _json_flavour_of(data)
    if data.startswith(b"PK\x03\x04"):
        return PlanogramFormat.XLSX
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return _json_flavour_of(data)
    if head.startswith(_PSA_RECORDS):
        return PlanogramFormat.PSA
    return PlanogramFormat.CSV


def _json_flavour_of(data: bytes) -> PlanogramFormat:
    try:
        return json_flavour(loads_bounded(data, allow_non_finite=True))
    except JsonRejected:
        return PlanogramFormat.CANONICAL  # its decoder then says what is wrong


def _decode_json(data: bytes, limits: PlanogramLimits = DEFAULT_LIMITS) -> Any:
    """Decoded JSON; bad encoding, syntax, depth or number length as located problems.

    ``NaN``, ``Infinity`` and overflows such as ``1e400`` are kept: validation then names the
    field that holds them (``positions[3].x: coordinate must be finite, got inf``).
    """
    text = decode_text(data, encodings=("utf-8",), what="JSON file")
    try:
        return loads_bounded(
            text,
            max_depth=limits.max_json_depth,
            max_number_digits=limits.max_number_digits,
            allow_non_finite=True,
        )
    except JsonRejected as error:
        raise PlanogramError([Problem(error.location, error.problem)]) from None


# How each model list is spelled at the top of a JSON document (canonical, Azure camel and
# Pascal case).
_JSON_SECTIONS = {
    "positions": ("positions", "Positions"),
    "products": ("products", "Products"),
    "fixtures": ("fixtures", "Fixtures"),
    "bays": ("bays", "Bays"),
}


def document_size_problems(
    document: Any, limits: PlanogramLimits = DEFAULT_LIMITS
) -> list[Problem]:
    """Limits a decoded JSON document already breaks, found before any model is built."""
    if not isinstance(document, Mapping):
        return []
    problems = []
    for section, keys in _JSON_SECTIONS.items():
        limit = limits.section_limit(section)
        for key in keys:
            items = document.get(key)
            if limit is not None and isinstance(items, list) and len(items) > limit:
                problems.append(over_limit(key, section, len(items), limit, f"max_{section}"))
    return problems


def import_document(
    document: Any,
    *,
    planogram_id: str | None = None,
    name: str | None = None,
    unit: Unit | None = None,
) -> Imported:
    """Import a decoded JSON planogram, canonical or Azure (as an API body arrives)."""
    if json_flavour(document) is PlanogramFormat.AZURE:
        planogram = import_azure_planogram(
            document, planogram_id=planogram_id or "azure", name=name or "", unit=unit or Unit.IN
        )
        pascal = any(isinstance(key, str) and key[:1].isupper() for key in document)
        return Imported(planogram, AzureLocator(pascal_case=pascal), PlanogramFormat.AZURE.value)
    planogram = planogram_from_dict(document)
    updates: dict[str, Any] = {}
    if planogram_id:
        updates["id"] = planogram_id
    if name:
        updates["name"] = name
    if unit is not None and unit != planogram.unit:
        raise PlanogramError(
            [
                Problem(
                    "unit",
                    f"mixed units: the file says {planogram.unit.value!r} but {unit.value!r} "
                    "was asked for",
                )
            ]
        )
    return Imported(planogram.model_copy(update=updates) if updates else planogram)


def size_problems(planogram: Planogram, limits: PlanogramLimits = DEFAULT_LIMITS) -> list[Problem]:
    """The size limits ``planogram`` breaks: element counts and total facings."""
    problems = []
    for section in ("positions", "products", "fixtures", "bays"):
        count = len(getattr(planogram, section))
        limit = limits.section_limit(section)
        if limit is not None and count > limit:
            problems.append(over_limit(section, section, count, limit, f"max_{section}"))
    facings = sum(max(p.hfacings, 0) * max(p.vfacings, 0) for p in planogram.positions)
    if facings > limits.max_facings:
        problems.append(
            over_limit("positions", "facings", facings, limits.max_facings, "max_facings")
        )
    return problems


def _default_id(planogram_id: str | None, filename: str | None) -> str | None:
    """The id asked for, else one derived from the file name (made a valid identifier)."""
    if planogram_id:
        return planogram_id
    if filename:
        return slugify(Path(filename).stem)
    return None


def read_planogram(
    source: str | Path | bytes,
    *,
    format: PlanogramFormat | str | None = None,
    filename: str | None = None,
    planogram_id: str | None = None,
    name: str | None = None,
    unit: Unit | None = None,
    layout: TabularLayout | None = None,
    position_origin: PositionOrigin = "planogram",
    max_bytes: int | None = None,
    validate: bool = True,
    limits: PlanogramLimits = DEFAULT_LIMITS,
) -> LoadResult:
    """Read and check a planogram file (a path, or its bytes with an optional ``filename``).

    Never raises for bad input: every problem found comes back in ``LoadResult.problems`` (at
    most ``limits.max_problems`` of them, then a count of the rest); ``LoadResult.too_large``
    says they are size limits. ``max_bytes`` overrides ``limits.max_bytes``.
    """
    result = _read_planogram(
        source,
        format=format,
        filename=filename,
        planogram_id=planogram_id,
        name=name,
        unit=unit,
        layout=layout,
        position_origin=position_origin,
        validate=validate,
        limits=limits if max_bytes is None else replace(limits, max_bytes=max_bytes),
    )
    result.problems = cap_problems(result.problems, limits.max_problems)
    return result


def _too_large(problems: list[Problem], chosen: PlanogramFormat | None = None) -> LoadResult:
    return LoadResult(None, problems, chosen, too_large=True)


def _read_planogram(
    source: str | Path | bytes,
    *,
    format: PlanogramFormat | str | None,
    filename: str | None,
    planogram_id: str | None,
    name: str | None,
    unit: Unit | None,
    layout: TabularLayout | None,
    position_origin: PositionOrigin,
    validate: bool,
    limits: PlanogramLimits,
) -> LoadResult:
    max_bytes = limits.max_bytes
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        filename = filename or path.name
        try:
            size = path.stat().st_size
        except OSError as error:
            return LoadResult(None, [Problem(str(path), f"cannot read: {error.strerror}")])
        if size > max_bytes:
            return _too_large(
                [Problem("file", f"{size:,} bytes is over the limit of {max_bytes:,} bytes")]
            )
        data = path.read_bytes()
    if len(data) > max_bytes:
        return _too_large(
            [Problem("file", f"{len(data):,} bytes is over the limit of {max_bytes:,} bytes")]
        )
    if not data.strip():
        return LoadResult(None, [Problem("file", "the file is empty")])
    try:
        chosen = PlanogramFormat(format) if format else detect_format(data, filename)
    except ValueError:
        choices = ", ".join(f.value for f in PlanogramFormat)
        return LoadResult(None, [Problem("format", f"unknown format {format!r}; use {choices}")])
    default_id = _default_id(planogram_id, filename)
    try:
        if chosen in (PlanogramFormat.CANONICAL, PlanogramFormat.AZURE):
            document = _decode_json(data, limits)
            if too_big := document_size_problems(document, limits):
                return _too_large(too_big, chosen)
            imported = import_document(
                document,
                planogram_id=planogram_id
                or (default_id if json_flavour(document) is PlanogramFormat.AZURE else None),
                name=name,
                unit=unit,
            )
        elif chosen is PlanogramFormat.PSA:
            imported = parse_psa(
                data, planogram_id=planogram_id, unit=unit, position_origin=position_origin
            )
        else:
            layout = layout or TabularLayout()
            overrides: dict[str, Any] = {}
            if layout.planogram_id is None and default_id:
                overrides["planogram_id"] = default_id
            if name and not layout.name:
                overrides["name"] = name
            if unit is not None and layout.unit is None:
                overrides["unit"] = unit
            if overrides:
                layout = TabularLayout(**{**layout.__dict__, **overrides})
            imported = (
                parse_xlsx(data, layout, limits=limits)
                if chosen is PlanogramFormat.XLSX
                else parse_csv(data, layout)
            )
    except PlanogramTooLarge as error:
        return _too_large(list(error.problems), chosen)
    except PlanogramError as error:
        return LoadResult(None, list(error.problems), chosen)
    if too_big := size_problems(imported.planogram, limits):
        return LoadResult(imported.planogram, too_big, chosen, imported.locate, too_large=True)
    # Uncapped here: read_planogram caps every path's problems once.
    problems = (
        validate_planogram(imported.planogram, locate=imported.locate, max_problems=None)
        if validate
        else []
    )
    return LoadResult(imported.planogram, problems, chosen, imported.locate)


def _raise_for(result: LoadResult) -> None:
    if result.too_large:
        raise PlanogramTooLarge(result.problems)
    if result.problems or result.planogram is None:
        raise PlanogramError(result.problems or [Problem("file", "no planogram")])


def load_planogram_file(
    source: str | Path | bytes, format: PlanogramFormat | str | None = None, **options: Any
) -> Planogram:
    """A valid planogram from a file in any supported format.

    Raises ``PlanogramError`` carrying every problem found, each with its location in the file.
    Options are those of ``read_planogram``.
    """
    result = read_planogram(source, format=format, **options)
    _raise_for(result)
    assert result.planogram is not None
    return result.planogram


def load_planogram_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    format: PlanogramFormat | str | None = None,
    **options: Any,
) -> Imported:
    """Like ``load_planogram_file`` for uploaded bytes; also says which format it was.

    ``Imported.format`` is the ``PlanogramFormat`` value (``"psa"``, ``"azure"``, …).
    """
    result = read_planogram(data, filename=filename, format=format, **options)
    _raise_for(result)
    assert result.planogram is not None and result.format is not None
    return Imported(result.planogram, result.locate, result.format.value)


def load_planogram_document(
    document: Any,
    *,
    validate: bool = True,
    limits: PlanogramLimits = DEFAULT_LIMITS,
    **options: Any,
) -> Planogram:
    """A valid planogram from decoded JSON (canonical or Azure), as an API request carries it.

    Decode the request body with ``shelfscan.safe_json.loads_bounded`` first. Raises
    ``PlanogramTooLarge`` for size limits (checked before any model is built) and
    ``PlanogramError`` for everything else, at most ``limits.max_problems`` listed.
    """
    if too_big := document_size_problems(document, limits):
        raise PlanogramTooLarge(too_big)
    try:
        imported = import_document(document, **options)
    except PlanogramError as error:
        raise PlanogramError(cap_problems(list(error.problems), limits.max_problems)) from None
    if too_big := size_problems(imported.planogram, limits):
        raise PlanogramTooLarge(too_big)
    if validate and (
        problems := validate_planogram(
            imported.planogram, locate=imported.locate, max_problems=limits.max_problems
        )
    ):
        raise PlanogramError(problems)
    return imported.planogram
