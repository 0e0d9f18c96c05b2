"""``shelfscan doctor``: would ``shelfscan serve`` work with these settings? Checks, no changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from shelfscan.cli.errors import CliError, check_database_url, explain_connection_error, redact
from shelfscan.settings import Settings, get_settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(settings: Settings) -> Check:
    """The database URL parses, the server answers and the schema is (or will be) current.

    A SQLite file that does not exist yet is not created here; ``serve`` creates and migrates
    it when ``SHELFSCAN_MIGRATE_ON_START`` is on (the default).
    """
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    url = settings.resolved_database_url
    source = "SHELFSCAN_DATABASE_URL" if settings.database_url else "SHELFSCAN_DATA_DIR"
    try:
        check_database_url(url, source)
    except CliError as error:
        return Check("database", False, str(error))
    parsed = make_url(url)
    on_start = "`shelfscan serve` migrates it on start"
    if not settings.migrate_on_start:
        on_start = "run `shelfscan db upgrade` (SHELFSCAN_MIGRATE_ON_START is off)"
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file not in (None, "", ":memory:") and not Path(sqlite_file).exists():
        return Check(
            "database", settings.migrate_on_start, f"{redact(url)} does not exist yet; {on_start}"
        )
    from shelfscan.db.migrate import current_revision, head_revision

    try:
        current = current_revision(url)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
        return Check("database", False, explain_connection_error(error, url, source))
    head = head_revision()
    if current == head:
        return Check("database", True, f"{redact(url)} at revision {head} (latest)")
    return Check(
        "database",
        settings.migrate_on_start,
        f"{redact(url)} at revision {current or 'base'}, latest is {head}; {on_start}",
    )


def doctor() -> None:
    """Check the settings, the database and the detection model, one line each; exit 1 if any
    check fails. Nothing is changed (no migrations, no files)."""
    from shelfscan.model_check import check_model

    settings = get_settings()  # invalid SHELFSCAN_* values stop here with their own message
    model = check_model(settings)
    checks = [
        Check("settings", True, f"detector {settings.detector_backend.value}"),
        check_database(settings),
        Check("model", model.ok, model.detail),
    ]
    for check in checks:
        typer.echo(f"{check.name:<9} {'ok' if check.ok else 'FAILED':<6} {check.detail}")
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
