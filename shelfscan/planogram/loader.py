"""Load a planogram from any supported file: detect the format, guard size and encoding, import,
validate, and report every problem with its location in that file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from shelfscan.planogram.azure_json import import_azure_planogram
from shelfscan.planogram.canonical import planogram_from_dict
from shelfscan.planogram.errors import PlanogramError, Problem
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

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# Far above any real bay (a few hundred facings) yet small enough to keep checks quick.
MAX_ELEMENTS = 100_000


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
        try:
            return json_flavour(json.loads(data.decode("utf-8-sig")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return PlanogramFormat.CANONICAL  # its decoder then says what is wrong
    if data.startswith(b"PK\x03\x04"):
        return PlanogramFormat.XLSX
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        try:
            return json_flavour(json.loads(data.decode("utf-8-sig")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return PlanogramFormat.CANONICAL
    if head.startswith(_PSA_RECORDS):
        return PlanogramFormat.PSA
    return PlanogramFormat.CSV


def _decode_json(data: bytes) -> Any:
    text = decode_text(data, encodings=("utf-8",), what="JSON file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanogramError(
            [Problem(f"line {error.lineno}, column {error.colno}", f"invalid JSON: {error.msg}")]
        ) from None


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


def _size_problem(imported: Imported) -> list[Problem]:
    planogram = imported.planogram
    problems = []
    for section in ("products", "fixtures", "positions"):
        count = len(getattr(planogram, section))
        if count > MAX_ELEMENTS:
            problems.append(
                Problem(section, f"{count} {section}: more than the limit of {MAX_ELEMENTS}")
            )
    return problems


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
    max_bytes: int = DEFAULT_MAX_BYTES,
    validate: bool = True,
) -> LoadResult:
    """Read and check a planogram file (a path, or its bytes with an optional ``filename``).

    Never raises for bad input: every problem found comes back in ``LoadResult.problems``.
    """
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
            return LoadResult(
                None, [Problem("file", f"{size:,} bytes is over the limit of {max_bytes:,} bytes")]
            )
        data = path.read_bytes()
    if len(data) > max_bytes:
        return LoadResult(
            None, [Problem("file", f"{len(data):,} bytes is over the limit of {max_bytes:,} bytes")]
        )
    if not data.strip():
        return LoadResult(None, [Problem("file", "the file is empty")])
    try:
        chosen = PlanogramFormat(format) if format else detect_format(data, filename)
    except ValueError:
        choices = ", ".join(f.value for f in PlanogramFormat)
        return LoadResult(None, [Problem("format", f"unknown format {format!r}; use {choices}")])
    default_id = planogram_id or (Path(filename).stem if filename else None)
    try:
        if chosen in (PlanogramFormat.CANONICAL, PlanogramFormat.AZURE):
            document = _decode_json(data)
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
                parse_xlsx(data, layout)
                if chosen is PlanogramFormat.XLSX
                else parse_csv(data, layout)
            )
    except PlanogramError as error:
        return LoadResult(None, list(error.problems), chosen)
    problems = _size_problem(imported)
    if not problems and validate:
        problems = validate_planogram(imported.planogram, locate=imported.locate)
    return LoadResult(imported.planogram, problems, chosen, imported.locate)


def load_planogram_file(
    source: str | Path | bytes, format: PlanogramFormat | str | None = None, **options: Any
) -> Planogram:
    """A valid planogram from a file in any supported format.

    Raises ``PlanogramError`` carrying every problem found, each with its location in the file.
    Options are those of ``read_planogram``.
    """
    result = read_planogram(source, format=format, **options)
    if result.problems or result.planogram is None:
        raise PlanogramError(result.problems or [Problem("file", "no planogram")])
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
    if result.problems or result.planogram is None or result.format is None:
        raise PlanogramError(result.problems or [Problem("file", "no planogram")])
    return Imported(result.planogram, result.locate, result.format.value)


def load_planogram_document(document: Any, *, validate: bool = True, **options: Any) -> Planogram:
    """A valid planogram from decoded JSON (canonical or Azure), as an API request carries it."""
    imported = import_document(document, **options)
    problems = _size_problem(imported)
    if not problems and validate:
        problems = validate_planogram(imported.planogram, locate=imported.locate)
    if problems:
        raise PlanogramError(problems)
    return imported.planogram
