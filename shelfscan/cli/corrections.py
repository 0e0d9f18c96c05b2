"""``shelfscan corrections …``: what people reviewed, as training data."""

from __future__ import annotations

from pathlib import Path

import typer

from shelfscan.cli.errors import CliError

app = typer.Typer(help="Human review of scans: corrections as training data.", no_args_is_help=True)


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write"),
    export_format: str = typer.Option("yolo", "--format", help="yolo (the only format so far)"),
    classes: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="Keep these class indices: a render dataset's classes.json or a model's "
        ".labels.json (products it lacks are appended)",
    ),
    store: list[str] = typer.Option([], "--store", help="Only these store codes (repeatable)"),
    val_fraction: float = typer.Option(0.2, min=0.0, max=0.9, help="Share of scans for val"),
) -> None:
    """Write every reviewed scan's photo with its corrected labels as a YOLO dataset."""
    from shelfscan.corrections.export import EXPORT_FORMATS, export_yolo, read_class_entries
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.settings import get_settings
    from shelfscan.storage import get_storage

    if export_format not in EXPORT_FORMATS:
        raise CliError(
            f"--format: expected one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}"
        )
    try:
        base = read_class_entries(classes) if classes is not None else []
    except ValueError as error:
        raise CliError(f"--classes: {error}") from None
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        summary = export_yolo(
            session,
            get_storage(settings),
            out,
            classes=base,
            store_codes=store,
            val_fraction=val_fraction,
        )
    skipped = ", ".join(f"{n} {why}" for why, n in summary.skipped.items())
    typer.echo(
        f"{summary.train_images} train + {summary.val_images} val reviewed photos, "
        f"{summary.boxes} boxes, {len(summary.classes)} classes -> {summary.data_yaml}"
        + (f" (left out: {skipped})" if skipped else "")
    )
    if summary.train_images + summary.val_images == 0:
        typer.echo("no reviewed scans to export yet: correct or confirm verdicts first", err=True)
