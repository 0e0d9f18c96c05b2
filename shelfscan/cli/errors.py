"""Errors a person can act on: known failures become one ``error: …`` line and exit code 2.

Every ``shelfscan`` command runs inside :class:`FriendlyErrorsGroup`, so a command raises the
library's own exception (a settings ``ValidationError``, an SQLAlchemy URL or connection error)
or :class:`CliError` and this module says, in a line or two, which environment variable or
option held which bad value and what is accepted. Anything not recognised keeps its full
traceback: an unexpected error is a bug to report, not a message to polish.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

EXIT_USAGE = 2
DATABASE_URL_ENV = "SHELFSCAN_DATABASE_URL"
DATABASE_URL_EXAMPLES = (
    "postgresql+psycopg://user:password@host:5432/dbname or sqlite:///path/to/shelfscan.db"
)
# Where a command recorded that the database URL came from an option (``ctx.meta`` is
# shared by a command and all its parents, so the top-level group can read it after a failure).
_DATABASE_URL_OPTION_KEY = "shelfscan.database_url_option"
_SECRET_NAME = re.compile(r"key|secret|password|token", re.IGNORECASE)


class CliError(Exception):
    """A problem the user can fix; its text is printed as ``error: <text>`` with exit code 2."""


class FriendlyErrorsGroup(TyperGroup):
    """The root command group: turns known errors into a short message instead of a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            message = explain(error, ctx.meta)
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(EXIT_USAGE) from None


def explain(error: BaseException, meta: dict[str, Any] | None = None) -> str | None:
    """One or two lines a user can act on for a known error, or ``None`` for anything else."""
    if isinstance(error, CliError):
        return str(error)
    if isinstance(error, ValidationError):
        return _explain_settings_error(error)
    from alembic.util import CommandError as MigrationCommandError
    from sqlalchemy import exc as sa_exc

    if isinstance(error, MigrationCommandError):  # e.g. an unknown or out-of-range revision
        return f"{error} (`shelfscan db current` shows the database's and the latest revision)"
    if isinstance(error, sa_exc.NoSuchModuleError | sa_exc.ArgumentError):
        try:
            check_database_url(*_database_url_and_source(meta or {}))
        except CliError as bad_url:
            return str(bad_url)
        return None  # the URL is fine, so this is some other misuse: keep the traceback
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) and (
        error.statement is None  # no statement: it failed while connecting
    ):
        return explain_connection_error(error, *_database_url_and_source(meta or {}))
    return None


# --- settings ---------------------------------------------------------------------------------


def _explain_settings_error(error: ValidationError) -> str | None:
    prefix = _settings_env_prefix(error.title)
    if prefix is None:
        return None  # a model's validation error, not configuration; keep the traceback
    lines = []
    for problem in error.errors():
        field = "__".join(str(part) for part in problem["loc"]).upper()
        name = f"{prefix}{field}"
        value = "***" if _SECRET_NAME.search(name) else repr(problem.get("input"))
        lines.append(f"{name}={value} is not valid: {_accepted(problem['msg'])}")
    return "\n".join(lines)


def _accepted(pydantic_message: str) -> str:
    """Pydantic's "Input should be X" as "it should be X"; other messages as they are."""
    if pydantic_message.startswith("Input should be "):
        return "it should be " + pydantic_message.removeprefix("Input should be ")
    return pydantic_message


def _settings_env_prefix(title: str) -> str | None:
    """The ``env_prefix`` of the pydantic-settings class called ``title``, if there is one."""
    from pydantic_settings import BaseSettings

    pending: list[type] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == title and cls is not BaseSettings:
            return str(cls.model_config.get("env_prefix", ""))  # type: ignore[attr-defined]
        pending.extend(cls.__subclasses__())
    return None


# --- database -----------------------------------------------------------------------------------


def record_database_url_option(ctx: typer.Context, value: str | None) -> str | None:
    """Option callback for ``--database-url``: remember that the URL came from the option."""
    if value:
        ctx.meta[_DATABASE_URL_OPTION_KEY] = value
    return value


def _database_url_and_source(meta: dict[str, Any]) -> tuple[str, str]:
    if url := meta.get(_DATABASE_URL_OPTION_KEY):
        return url, "--database-url"
    from shelfscan.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url, DATABASE_URL_ENV
    return settings.resolved_database_url, "SHELFSCAN_DATA_DIR"


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (the URL as given if it does not parse)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password field to hide
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def check_database_url(url: str, source: str = DATABASE_URL_ENV) -> None:
    """Raise :class:`CliError` unless SQLAlchemy can parse ``url`` and load its dialect."""
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect().import_dbapi()
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError):
        raise CliError(_explain_database_url(url, source)) from None


def _explain_database_url(url: str, source: str) -> str:
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    shown = f"{source}={redact(url)!r}"
    try:
        scheme = make_url(url).drivername
    except sa_exc.ArgumentError:
        return f"{shown} is not a database URL; use {DATABASE_URL_EXAMPLES}"
    if scheme.startswith("postgres"):
        return (
            f"{shown}: SQLAlchemy needs the scheme postgresql+psycopg:// (not {scheme}://), "
            "e.g. postgresql+psycopg://user:password@host:5432/dbname"
        )
    return f"{shown}: SQLAlchemy has no database driver {scheme!r}; use {DATABASE_URL_EXAMPLES}"


def explain_connection_error(error: BaseException, url: str, source: str) -> str:
    """``cannot connect to … at host:port (SOURCE): reason`` for a failed database connection."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    original = getattr(error, "orig", None) or error
    reason = str(original).strip().splitlines()[0] if str(original).strip() else type(error)
    # psycopg: 'connection failed: connection to server at "h", port 1 failed: Connection refused'
    reason = str(reason).rsplit(" failed: ", 1)[-1]
    if parsed.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {parsed.database!r} ({source}): {reason}"
    backend = parsed.get_backend_name()
    server, default_port = _SERVERS.get(backend, (backend, "default port"))
    where = f"{parsed.host or 'localhost'}:{parsed.port or default_port}"
    return f"cannot connect to the {server} server at {where} ({source}): {reason}"


_SERVERS = {"postgresql": ("PostgreSQL", "5432"), "mysql": ("MySQL", "3306")}


# --- option values --------------------------------------------------------------------------------


def parse_day(value: str, option: str) -> date:
    """``value`` of ``option`` as a date, or :class:`CliError` naming both and the format."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return date.fromisoformat(value.strip())
    except ValueError:
        pass  # right shape, impossible day (2026-02-30): the same message applies
    raise CliError(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-01-31")
