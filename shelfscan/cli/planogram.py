"""``shelfscan planogram import|validate|render|export|schema``: planogram files on the command
line. Problems are printed one per line as ``FILE: LOCATION: PROBLEM`` and make the exit status 1.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.loader import LoadResult, PlanogramFormat, detect_format, read_planogram
from shelfscan.planogram.model import Planogram, Unit

app = typer.Typer(
    name="planogram",
    help="Import, validate, render and export planograms (canonical JSON, Azure JSON, "
    "ProSpace .psa, CSV, XLSX).",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    CANONICAL = "canonical"
    AZURE = "azure"
    PSA = "psa"


class ShelfOrderOption(StrEnum):
    BOTTOM_UP = "bottom-up"
    TOP_DOWN = "top-down"


class PsaOrigin(StrEnum):
    PLANOGRAM = "planogram"
    FIXTURE = "fixture"


FormatOption = typer.Option(None, "--format", "-f", help="Input format; detected when omitted.")
UnitOption = typer.Option(None, "--unit", help="Unit of the input (mm, cm, in).")
IdOption = typer.Option(None, "--id", help="Planogram id (default: from the file).")
NameOption = typer.Option(None, "--name", help="Planogram name.")
WidthOption = typer.Option(None, "--width", help="CSV/XLSX: planogram width.")
HeightOption = typer.Option(None, "--height", help="CSV/XLSX: planogram height.")
ThicknessOption = typer.Option(0.0, "--shelf-thickness", help="CSV/XLSX: shelf thickness.")
ShelfOrder = typer.Option(
    ShelfOrderOption.BOTTOM_UP, "--shelf-order", help="CSV/XLSX: how shelves are numbered."
)
SelectOption = typer.Option(
    None, "--select", help="CSV/XLSX: the planogram to take from a file that holds several."
)
CatalogOption = typer.Option(
    None, "--catalog", help="Product catalogue JSON supplying sizes and names by id or GTIN."
)
OriginOption = typer.Option(
    PsaOrigin.PLANOGRAM,
    "--psa-origin",
    help=".psa: position coordinates are planogram-absolute or relative to their fixture.",
)


def _read(
    path: Path,
    *,
    format: PlanogramFormat | None,
    unit: Unit | None,
    planogram_id: str | None,
    name: str | None,
    width: float | None,
    height: float | None,
    shelf_thickness: float,
    shelf_order: ShelfOrderOption,
    select: str | None,
    catalog: Path | None,
    psa_origin: PsaOrigin,
) -> LoadResult:
    from shelfscan.planogram.catalog import load_catalog
    from shelfscan.planogram.tabular import TabularLayout

    products = load_catalog(catalog).by_key() if catalog else {}
    layout = TabularLayout(
        width=width,
        height=height,
        shelf_thickness=shelf_thickness,
        shelf_order=shelf_order.value,  # type: ignore[arg-type]
        select_planogram=select,
        catalog=products,
    )
    return read_planogram(
        path,
        format=format,
        planogram_id=planogram_id,
        name=name,
        unit=unit,
        layout=layout,
        position_origin=psa_origin.value,  # type: ignore[arg-type]
    )


def _print_problems(source: str, problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(f"{source}: {problem.location}: {problem.problem}", err=True)


def _load_or_exit(path: Path, **options: Any) -> Planogram:
    try:
        result = _read(path, **options)
    except PlanogramError as error:  # a bad --catalog file
        _print_problems("--catalog", error.problems)
        raise typer.Exit(1) from None
    if result.problems or result.planogram is None:
        _print_problems(str(path), result.problems)
        count = len(result.problems)
        typer.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise typer.Exit(1)
    return result.planogram


def _write_text(text: str, output: Path | None) -> None:
    if output is None or str(output) == "-":
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


def _summary(planogram: Planogram) -> str:
    return (
        f"{len(planogram.positions)} positions, {len(planogram.facings())} facings, "
        f"{len(planogram.products)} products, {len(planogram.fixtures)} fixtures, "
        f"{planogram.width:g} × {planogram.height:g} {planogram.unit.value}"
    )


@app.command("import")
def import_command(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="File to import."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Canonical JSON to write (default: stdout)."
    ),
    format: PlanogramFormat | None = FormatOption,
    unit: Unit | None = UnitOption,
    planogram_id: str | None = IdOption,
    name: str | None = NameOption,
    width: float | None = WidthOption,
    height: float | None = HeightOption,
    shelf_thickness: float = ThicknessOption,
    shelf_order: ShelfOrderOption = ShelfOrder,
    select: str | None = SelectOption,
    catalog: Path | None = CatalogOption,
    psa_origin: PsaOrigin = OriginOption,
    publish: bool = typer.Option(
        False,
        "--publish",
        help="Also publish it to the database as the next version of its id "
        "(SHELFSCAN_DATABASE_URL).",
    ),
    comment: str | None = typer.Option(None, "--comment", help="Version note, with --publish."),
) -> None:
    """Convert a planogram file to canonical JSON, refusing it if it has any problem;
    with --publish, store it as a new immutable version."""
    from shelfscan.planogram.canonical import dump_canonical

    planogram = _load_or_exit(
        source,
        format=format,
        unit=unit,
        planogram_id=planogram_id,
        name=name,
        width=width,
        height=height,
        shelf_thickness=shelf_thickness,
        shelf_order=shelf_order,
        select=select,
        catalog=catalog,
        psa_origin=psa_origin,
    )
    if publish:
        detected = format or detect_format(source.read_bytes(), source.name)
        _publish(planogram, source_format=detected.value, comment=comment)
        if output is None:
            return
    _write_text(dump_canonical(planogram), output)
    if output is not None and str(output) != "-":
        typer.echo(f"{source} -> {output}: {_summary(planogram)}", err=True)


def _publish(planogram: Planogram, *, source_format: str, comment: str | None) -> None:
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.planogram_store import publish_planogram
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    with session_scope(url) as session:
        version = publish_planogram(
            session, planogram, source_format=source_format or "canonical", comment=comment
        )
        typer.echo(f"published {planogram.id} version {version.version}", err=True)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """The published planograms: id (the key `store assign` takes), latest version, name."""
    import json

    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.planogram_store import list_planograms
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    with session_scope(url) as session:
        rows = [
            {"id": planogram.key, "latest_version": version, "name": planogram.name}
            for planogram, version in list_planograms(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no planograms published yet: `shelfscan planogram import FILE --publish`")
        return
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        typer.echo(f"{row['id']:<{width}}  v{row['latest_version']:<4} {row['name']}")


@app.command("validate")
def validate_command(
    files: list[Path] = typer.Argument(..., help="Planogram files to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
    format: PlanogramFormat | None = FormatOption,
    unit: Unit | None = UnitOption,
    width: float | None = WidthOption,
    height: float | None = HeightOption,
    shelf_thickness: float = ThicknessOption,
    shelf_order: ShelfOrderOption = ShelfOrder,
    select: str | None = SelectOption,
    catalog: Path | None = CatalogOption,
    psa_origin: PsaOrigin = OriginOption,
) -> None:
    """Check planogram files and list every problem with its location; exit 1 if any."""
    reports = []
    for path in files:
        try:
            result = _read(
                path,
                format=format,
                unit=unit,
                planogram_id=None,
                name=None,
                width=width,
                height=height,
                shelf_thickness=shelf_thickness,
                shelf_order=shelf_order,
                select=select,
                catalog=catalog,
                psa_origin=psa_origin,
            )
            problems = result.problems
        except PlanogramError as error:
            result, problems = None, error.problems
        valid = not problems and result is not None and result.planogram is not None
        reports.append(
            {
                "file": str(path),
                "format": result.format.value if result and result.format else None,
                "valid": valid,
                "problems": [p.as_dict() for p in problems],
            }
        )
        if as_json:
            continue
        if valid:
            assert result is not None and result.planogram is not None
            typer.echo(f"{path}: ok ({_summary(result.planogram)})")
        else:
            _print_problems(str(path), problems)
            typer.echo(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    if as_json:
        typer.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    if not all(report["valid"] for report in reports):
        raise typer.Exit(1)


@app.command("render")
def render_command(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Planogram file."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG to write."),
    packshots: Path | None = typer.Option(
        None, "--packshots", help="Folder of packshots named by product name, id or GTIN."
    ),
    width_px: int = typer.Option(1000, "--width-px", min=50, max=8000, help="Image width."),
    labels: bool = typer.Option(True, help="Label boxes of products without packshots."),
    format: PlanogramFormat | None = FormatOption,
    unit: Unit | None = UnitOption,
    width: float | None = WidthOption,
    height: float | None = HeightOption,
    shelf_thickness: float = ThicknessOption,
    shelf_order: ShelfOrderOption = ShelfOrder,
    select: str | None = SelectOption,
    catalog: Path | None = CatalogOption,
    psa_origin: PsaOrigin = OriginOption,
) -> None:
    """Draw a planogram as a PNG (packshots where found, labelled boxes otherwise)."""
    from shelfscan.planogram.render import missing_packshots, render_planogram

    planogram = _load_or_exit(
        source,
        format=format,
        unit=unit,
        planogram_id=None,
        name=None,
        width=width,
        height=height,
        shelf_thickness=shelf_thickness,
        shelf_order=shelf_order,
        select=select,
        catalog=catalog,
        psa_origin=psa_origin,
    )
    base_dir = source.resolve().parent
    image = render_planogram(
        planogram, packshot_dir=packshots, base_dir=base_dir, width_px=width_px, labels=labels
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, format="PNG", optimize=True)
    missing = missing_packshots(planogram, packshots, base_dir)
    note = f"; {len(missing)} of {len(planogram.products)} products without packshot"
    typer.echo(f"{output}: {image.width} × {image.height} px{note if missing else ''}", err=True)


@app.command("export")
def export_command(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Planogram file."),
    to: ExportFormat = typer.Option(ExportFormat.AZURE, "--to", help="Output format."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default: stdout)."
    ),
    format: PlanogramFormat | None = FormatOption,
    unit: Unit | None = UnitOption,
    width: float | None = WidthOption,
    height: float | None = HeightOption,
    shelf_thickness: float = ThicknessOption,
    shelf_order: ShelfOrderOption = ShelfOrder,
    select: str | None = SelectOption,
    catalog: Path | None = CatalogOption,
    psa_origin: PsaOrigin = OriginOption,
) -> None:
    """Write a planogram as canonical JSON, Azure planogram JSON (one position per facing)
    or ProSpace .psa (cp1252)."""
    planogram = _load_or_exit(
        source,
        format=format,
        unit=unit,
        planogram_id=None,
        name=None,
        width=width,
        height=height,
        shelf_thickness=shelf_thickness,
        shelf_order=shelf_order,
        select=select,
        catalog=catalog,
        psa_origin=psa_origin,
    )
    if to is ExportFormat.CANONICAL:
        from shelfscan.planogram.canonical import dump_canonical

        _write_text(dump_canonical(planogram), output)
    elif to is ExportFormat.AZURE:
        from shelfscan.planogram.azure_json import export_azure_planogram

        _write_text(json.dumps(export_azure_planogram(planogram), indent=2) + "\n", output)
    else:
        from shelfscan.planogram.psa import export_psa

        text = export_psa(planogram)
        if output is None or str(output) == "-":
            sys.stdout.write(text)
        else:
            output.write_bytes(text.encode("cp1252", errors="replace"))


@app.command("schema")
def schema_command(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Where to write (default: stdout)."
    ),
) -> None:
    """Print or write the JSON Schema of canonical planogram JSON."""
    from shelfscan.planogram.schema import schema_text

    _write_text(schema_text(), output)
