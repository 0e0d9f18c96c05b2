"""``shelfscan store …``: stores, bays and which planogram version each bay follows."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from shelfscan.cli.errors import parse_day

app = typer.Typer(help="Stores, their bays and bay planogram assignments.", no_args_is_help=True)


def _session() -> Any:
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    return session_scope(url)


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=1)


@app.command("add")
def add_store(
    code: str = typer.Argument(..., help="Store code, e.g. S001."),
    name: str = typer.Argument(..., help="Store name."),
    region: str | None = typer.Option(None, help="Region, for dashboards."),
) -> None:
    """Create a store."""
    from shelfscan.planogram_store import ConflictError, create_store

    with _session() as session:
        try:
            create_store(session, code, name, region)
        except ConflictError as error:
            raise _fail(error) from None
    typer.echo(f"store {code} created")


@app.command("list")
def list_all() -> None:
    """List stores with their bays and the planogram each bay follows today."""
    from shelfscan.planogram_store import assignment_for_bay, list_bays, list_stores

    with _session() as session:
        for store in list_stores(session):
            typer.echo(f"{store.code}\t{store.name}\t{store.region or ''}")
            for bay in list_bays(session, store):
                current = assignment_for_bay(session, bay.id, date.today())
                follows = (
                    f"{current.planogram_version.planogram.key} "
                    f"v{current.planogram_version.version}"
                    if current
                    else "no planogram assigned"
                )
                typer.echo(f"  {bay.code}\t{bay.name or ''}\t{follows}")


@app.command("add-bay")
def add_bay(
    store: str = typer.Argument(..., help="Store code."),
    bay: str = typer.Argument(..., help="Aisle/bay code, e.g. A03-B2."),
    name: str | None = typer.Option(None, help="Bay name."),
) -> None:
    """Add a bay to a store."""
    from shelfscan.planogram_store import ConflictError, NotFoundError, create_bay, get_store

    with _session() as session:
        try:
            create_bay(session, get_store(session, store), bay, name)
        except (ConflictError, NotFoundError) as error:
            raise _fail(error) from None
    typer.echo(f"bay {bay} added to {store}")


@app.command("assign")
def assign(
    store: str = typer.Argument(..., help="Store code."),
    bay: str = typer.Argument(..., help="Bay code."),
    planogram: str = typer.Argument(..., help="Planogram id."),
    version: int | None = typer.Option(None, min=1, help="Version (default: the latest)."),
    effective_from: str | None = typer.Option(
        None, "--from", help="First day (YYYY-MM-DD); default today."
    ),
    effective_to: str | None = typer.Option(
        None, "--to", help="Day it stops (YYYY-MM-DD, exclusive)."
    ),
) -> None:
    """Measure a bay against a planogram version from a date."""
    from shelfscan.planogram_store import (
        ConflictError,
        NotFoundError,
        assign_planogram,
        get_bay,
        get_planogram_version,
        get_store,
    )

    start = parse_day(effective_from, "--from") if effective_from else date.today()
    end = parse_day(effective_to, "--to") if effective_to else None
    with _session() as session:
        try:
            target = get_bay(session, get_store(session, store), bay)
            found = get_planogram_version(session, planogram, version)
            assign_planogram(session, target, found, start, end)
        except (ConflictError, NotFoundError) as error:
            raise _fail(error) from None
        typer.echo(f"{store}/{bay} follows {planogram} v{found.version} from {start}")
