from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shelfscan.auth import service
from shelfscan.auth.models import AuditEvent
from shelfscan.auth.roles import PrincipalKind, Role, ScopeKind
from shelfscan.cli.main import app
from shelfscan.db.session import session_scope
from shelfscan.settings import get_settings
from tests.auth.conftest import PASSWORD

runner = CliRunner()


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[str]:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    for args in (
        ["store", "add", "S001", "Main", "--region", "north"],
        ["store", "add", "S002", "Harbour", "--region", "south"],
    ):
        assert runner.invoke(app, args).exit_code == 0
    yield sqlite_url
    get_settings.cache_clear()


def _ok(args: list[str], stdin: str | None = None) -> str:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_apikey_create_prints_the_key_alone_on_the_last_line(database: str) -> None:
    out = _ok(["apikey", "create", "--role", "store_manager", "--store", "S001", "--name", "BI"])
    key = out.rstrip("\n").splitlines()[-1]
    assert key.startswith("ssk_") and " " not in key
    with session_scope(database) as session:
        principal = service.resolve_bearer_secret(session, key)
        assert principal.kind is PrincipalKind.API_KEY
        assert (principal.grants[0].role, principal.grants[0].scope) == (
            Role.STORE_MANAGER,
            ScopeKind.STORE,
        )
        prefix = principal.id
    listed = _ok(["apikey", "list"])
    assert prefix in listed and "active" in listed
    _ok(["apikey", "revoke", prefix])
    assert "revoked" in _ok(["apikey", "list"])


def test_user_add_list_set_role_disable(database: str) -> None:
    _ok(
        [
            "user",
            "add",
            "mia@example.com",
            "--role",
            "associate",
            "--store",
            "S001",
            "--password-stdin",
        ],
        stdin=PASSWORD + "\n",
    )
    assert "associate @ store S001" in _ok(["user", "list"])
    _ok(["user", "set-role", "mia@example.com", "regional_manager", "--region", "south"])
    _ok(["user", "disable", "mia@example.com"])
    listed = _ok(["user", "list"])
    assert "disabled" in listed and "regional_manager @ region south" in listed
    with session_scope(database) as session:
        events = session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)).all()
    assert events == ["user_created", "role_changed", "user_disabled"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "x", "--role", "boss", "--password-stdin"], "--role: unknown role 'boss'"),
        (["user", "add", "x", "--role", "admin", "--password-stdin"], "at least 12 characters"),
        (["apikey", "create", "--role", "associate", "--name", "n"], "cannot be scoped to a chain"),
        (
            ["apikey", "create", "--role", "associate", "--store", "S9", "--name", "n"],
            "store 'S9' not found",
        ),
        (["region", "add", "east", "East", "--time-zone", "Nowhere/Land"], "not an IANA time zone"),
    ],
)
def test_bad_input_is_one_error_line(database: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, args, input="short\n")
    assert result.exit_code == 2
    assert message in result.output


def test_device_enrol_prints_a_one_time_code(database: str) -> None:
    code = _ok(["device", "enrol", "--store", "S002"]).strip().splitlines()[-1]
    with session_scope(database) as session:
        _device, _token, store = service.enrol_device(
            session, code, "phone", client_address=None, policy=service.AuthPolicy()
        )
        assert store.code == "S002"
    assert "S002" in _ok(["device", "list"])
