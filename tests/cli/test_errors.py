"""Errors a person can act on: each known failure is one or two ``error:`` lines naming the
environment variable or option, the bad value and what is accepted, with exit code 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from shelfscan.cli.errors import EXIT_USAGE, explain, parse_day
from shelfscan.cli.main import app
from shelfscan.db.migrate import alembic_config, current_revision, head_revision
from shelfscan.settings import DetectorBackend, get_settings
from tests.cli.conftest import clean_environment

runner = CliRunner()
UNREACHABLE_POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"


def assert_short_error(stderr: str, exit_code: int, *expected: str) -> None:
    """A short ``error:`` message containing every ``expected`` piece, and a failing exit."""
    lines = stderr.strip().splitlines()
    assert exit_code == EXIT_USAGE, stderr
    assert "Traceback" not in stderr, stderr
    assert 1 <= len(lines) <= 3, stderr
    assert lines[0].startswith("error: "), stderr
    for piece in expected:
        assert piece in stderr, f"{piece!r} missing from {stderr!r}"


def invoke(*args: str) -> tuple[str, int]:
    get_settings.cache_clear()  # settings come from the environment the test just set
    result = runner.invoke(app, list(args))
    return result.stderr, result.exit_code


# --- settings -------------------------------------------------------------------------------


def test_bad_detector_backend_is_one_line_from_the_installed_command(tmp_path: Path) -> None:
    """The real entry point, as a user runs it: no rich traceback, the accepted values listed."""
    env = clean_environment(tmp_path / "data", SHELFSCAN_DETECTOR_BACKEND="foo")
    done = subprocess.run(
        [sys.executable, "-m", "shelfscan.cli.main", "db", "current"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    accepted = [backend.value for backend in DetectorBackend]
    assert_short_error(
        done.stderr, done.returncode, "SHELFSCAN_DETECTOR_BACKEND", "'foo'", *accepted
    )
    assert done.stdout == ""


def test_every_invalid_setting_is_named_by_its_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSCAN_CONFIDENCE_THRESHOLD", "1.5")
    monkeypatch.setenv("SHELFSCAN_MAX_DETECTIONS", "many")
    stderr, code = invoke("store", "list")
    assert_short_error(
        stderr,
        code,
        "SHELFSCAN_CONFIDENCE_THRESHOLD='1.5'",
        "less than or equal to 1",
        "SHELFSCAN_MAX_DETECTIONS='many'",
        "integer",
    )
    assert not data_dir.exists(), "nothing may be created before the settings are valid"


# --- database URL and connection --------------------------------------------------------------


def test_postgres_scheme_says_sqlalchemy_needs_postgresql_psycopg(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", "postgres://shop:s3cret@db.example:5432/shelf")
    stderr, code = invoke("store", "list")
    assert_short_error(
        stderr, code, "SHELFSCAN_DATABASE_URL", "postgres://shop:", "postgresql+psycopg://"
    )
    assert "s3cret" not in stderr, "the password must not be printed"


def test_database_url_option_is_named_when_it_is_the_bad_one(data_dir: Path) -> None:
    stderr, code = invoke("db", "current", "--database-url", "postgres://shop@db.example/shelf")
    assert_short_error(stderr, code, "--database-url", "postgres://shop@", "postgresql+psycopg://")
    assert "SHELFSCAN_DATABASE_URL" not in stderr


def test_unparsable_database_url_names_the_variable_and_the_accepted_forms(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", "shelf-database")
    stderr, code = invoke("db", "current")
    assert_short_error(
        stderr,
        code,
        "SHELFSCAN_DATABASE_URL",
        "'shelf-database'",
        "postgresql+psycopg://",
        "sqlite",
    )


@pytest.mark.parametrize("command", [["db", "current"], ["store", "list"]], ids=" ".join)
def test_unreachable_postgresql_is_one_line_with_host_port_and_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", UNREACHABLE_POSTGRES)
    stderr, code = invoke(*command)
    assert_short_error(stderr, code, "127.0.0.1:1", "SHELFSCAN_DATABASE_URL", "PostgreSQL")
    assert len(stderr.strip().splitlines()) == 1


# --- db downgrade -1 ------------------------------------------------------------------------


def test_db_downgrade_minus_one_steps_back_one_revision(data_dir: Path) -> None:
    from alembic.script import ScriptDirectory

    head = head_revision()
    previous = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(head)
    assert previous is not None
    url = get_settings().resolved_database_url
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert current_revision(url) == head

    stepped = runner.invoke(app, ["db", "downgrade", "-1"])

    assert stepped.exit_code == 0, stepped.output
    assert current_revision(url) == previous.down_revision
    assert f"database at revision {previous.down_revision or 'base'}" in stepped.output


def test_db_downgrade_relative_revision_works_after_the_database_url_option(
    data_dir: Path, sqlite_url: str
) -> None:
    assert runner.invoke(app, ["db", "upgrade", "--database-url", sqlite_url]).exit_code == 0
    result = runner.invoke(app, ["db", "downgrade", "--database-url", sqlite_url, "-1"])
    assert result.exit_code == 0, result.output
    assert current_revision(sqlite_url) != head_revision()


def test_db_downgrade_beyond_base_is_a_short_error(data_dir: Path, sqlite_url: str) -> None:
    stderr, code = invoke("db", "downgrade", "-1", "--database-url", sqlite_url)
    assert_short_error(stderr, code, "-1", "shelfscan db current")


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--from", "01/02/2026"), ("--from", "soon"), ("--to", "2026-02-30")],
)
def test_store_assign_bad_date_names_option_value_and_format(
    data_dir: Path, option: str, value: str
) -> None:
    stderr, code = invoke("store", "assign", "S001", "A01", "cereal-1", option, value)
    assert_short_error(stderr, code, option, repr(value), "YYYY-MM-DD")
    assert not data_dir.exists(), "a bad date is refused before the database is touched"


def test_parse_day_accepts_only_year_month_day() -> None:
    assert parse_day("2026-01-31", "--from").isoformat() == "2026-01-31"
    for value in ("20260131", "2026-W05-6", "31.01.2026"):
        with pytest.raises(Exception, match="YYYY-MM-DD"):
            parse_day(value, "--from")


# --- serve on a busy port ---------------------------------------------------------------------


def test_serve_on_a_busy_port_fails_before_migrating(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "shelfscan.cli.main", "serve", "--port", str(port)],
            env=clean_environment(data, SHELFSCAN_DETECTOR_BACKEND="replay"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert_short_error(done.stderr, done.returncode, f"127.0.0.1:{port}", "--port", "in use")
    assert "startup complete" not in (done.stdout + done.stderr).lower()
    assert not data.exists(), "serve migrated (created the data folder) before binding"


def test_serve_with_unreachable_postgresql_fails_before_starting(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", UNREACHABLE_POSTGRES)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stderr, code = invoke("serve", "--port", str(port))
    assert_short_error(stderr, code, "127.0.0.1:1", "SHELFSCAN_DATABASE_URL")


# --- what is not recognised keeps its traceback -----------------------------------------------


def test_unknown_errors_are_not_explained_away() -> None:
    class Box(BaseModel):
        width: int

    with pytest.raises(ValidationError) as model_error:
        Box.model_validate({"width": "wide"})
    assert explain(model_error.value) is None, "a model's validation error is not configuration"
    assert explain(RuntimeError("bug")) is None
