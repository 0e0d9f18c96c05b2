"""``shelfscan db …``: schema migrations and storage housekeeping."""

from __future__ import annotations

import typer

from shelfscan.cli.errors import record_database_url_option
from shelfscan.settings import get_settings

app = typer.Typer(
    help="Database schema migrations (Alembic) and storage housekeeping.", no_args_is_help=True
)


def _url(database_url: str | None) -> str:
    return database_url or get_settings().resolved_database_url


DatabaseOption = typer.Option(
    None,
    "--database-url",
    help="SQLAlchemy URL; defaults to SHELFSCAN_DATABASE_URL or SQLite.",
    callback=record_database_url_option,
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


# A relative revision such as -1 looks like an option to the parser; unknown "options" are
# passed through as the REVISION argument instead (real options such as --database-url still work).
@app.command(context_settings={"ignore_unknown_options": True})
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


@app.command("sweep-orphans")
def sweep_orphans_command(
    older_than: float = typer.Option(
        3600, "--older-than", min=0, help="Only files of unknown scans at least this old (s)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; delete nothing."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Remove stored files of scans the database does not know (uploads that died before
    their commit). The reapers do this hourly; this runs it now."""
    from shelfscan.jobs.sweeper import sweep_orphans
    from shelfscan.storage import get_storage

    settings = get_settings()
    result = sweep_orphans(
        _url(database_url), get_storage(settings), older_than_s=older_than, dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    for scan_id in result.orphan_scans:
        typer.echo(f"{verb} files of unknown scan {scan_id}")
    typer.echo(
        f"{verb} {len(result.deleted_keys)} files of {len(result.orphan_scans)} unknown scans; "
        f"{len(result.kept_recent)} recent ones kept"
    )
