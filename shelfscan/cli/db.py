"""``shelfscan db …``: schema migrations."""

from __future__ import annotations

import typer

from shelfscan.settings import get_settings

app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


def _url(database_url: str | None) -> str:
    return database_url or get_settings().resolved_database_url


DatabaseOption = typer.Option(
    None, "--database-url", help="SQLAlchemy URL; defaults to SHELFSCAN_DATABASE_URL or SQLite."
)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from shelfscan.db.migrate import current_revision
    from shelfscan.db.migrate import upgrade as run_upgrade

    url = _url(database_url)
    run_upgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url)}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Revert migrations down to REVISION."""
    from shelfscan.db.migrate import current_revision
    from shelfscan.db.migrate import downgrade as run_downgrade

    url = _url(database_url)
    run_downgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url) or 'base'}")


@app.command()
def current(database_url: str | None = DatabaseOption) -> None:
    """Show the database's revision and the latest available one."""
    from shelfscan.db.migrate import current_revision, head_revision

    url = _url(database_url)
    typer.echo(f"current: {current_revision(url) or 'base'}\nhead:    {head_revision()}")
