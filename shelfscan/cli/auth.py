"""``shelfscan user|apikey|device|region …``: access control from the server's own shell.

These commands act on the database directly, as ``cli:local`` in the audit log: whoever can
run them can already read the database. A fresh install has no user and no key, so the API
answers 401 to everyone until ``shelfscan user add … --role admin`` (or ``apikey create``)
makes the first one.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import typer

from shelfscan.cli.errors import CliError

LOCAL = "cli:local"

user_app = typer.Typer(help="People who sign in with a password.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrations and BI tools.", no_args_is_help=True)
device_app = typer.Typer(help="Store phones enrolled with a one-time code.", no_args_is_help=True)
region_app = typer.Typer(help="Regions of the chain and their time zones.", no_args_is_help=True)


def _session() -> AbstractContextManager[Any]:
    from shelfscan.auth import models as _auth_models  # noqa: F401  (tables on the metadata)
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    return session_scope(url)


def _grant(session: Any, role: str, store: str | None, region: str | None) -> Any:
    from shelfscan.auth.roles import parse_role
    from shelfscan.auth.service import make_grant

    try:
        parsed = parse_role(role)
    except ValueError as error:
        raise CliError(f"--role: {error}") from None
    return make_grant(session, parsed, store, region)


def _refusal(error: Exception) -> CliError:
    from shelfscan.services.errors import ShelfscanError

    if isinstance(error, ShelfscanError):
        where = f"--{error.field.replace('_', '-')}: " if error.field else ""
        return CliError(f"{where}{error.message}")
    return CliError(str(error))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


_ROLE_HELP = "associate, store_manager, regional_manager, hq_analyst or admin."
_STORE = typer.Option(None, "--store", help="Scope: one store (code).")
_REGION = typer.Option(None, "--region", help="Scope: one region (code).")


# --- users -------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: str = typer.Argument(..., help="E-mail or user name."),
    role: str = typer.Option(..., "--role", help=_ROLE_HELP),
    store: str | None = _STORE,
    region: str | None = _REGION,
    display_name: str = typer.Option("", "--display-name", help="Name shown on pages."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a user (at least 12 characters of password). Without --store/--region the
    role covers the whole chain."""
    from shelfscan.auth.service import add_user
    from shelfscan.services.errors import ShelfscanError

    password = _read_password(password_stdin)
    with _session() as session:
        try:
            grant = _grant(session, role, store, region)
            add_user(session, username, password, grant, display_name=display_name, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"user {username} created ({grant.label()})")


@user_app.command("list")
def user_list() -> None:
    """Users with their state and grants."""
    from shelfscan.auth.service import list_users, user_grants

    with _session() as session:
        for user in list_users(session):
            state = "active" if user.is_active else "disabled"
            second = "totp" if user.totp_secret else "-"
            grants = ", ".join(g.label() for g in user_grants(user)) or "no role"
            typer.echo(f"{user.username}\t{state}\t{second}\t{grants}")


@user_app.command("set-role")
def user_set_role(
    username: str = typer.Argument(...),
    role: str = typer.Argument(..., help=_ROLE_HELP),
    store: str | None = _STORE,
    region: str | None = _REGION,
) -> None:
    """Replace a user's role and scope; their open sessions end."""
    from shelfscan.auth.service import set_role
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            grant = _grant(session, role, store, region)
            set_role(session, username, grant, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"user {username} is now {grant.label()}")


@user_app.command("disable")
def user_disable(username: str = typer.Argument(...)) -> None:
    """Stop a user from signing in; their sessions end at once."""
    from shelfscan.auth.service import set_active
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            set_active(session, username, False, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: str = typer.Argument(...)) -> None:
    """Let a disabled user sign in again."""
    from shelfscan.auth.service import set_active
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            set_active(session, username, True, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"user {username} enabled")


@user_app.command("password")
def user_password(
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Set a new password; the user's sessions end."""
    from shelfscan.auth.service import set_password
    from shelfscan.services.errors import ShelfscanError

    password = _read_password(password_stdin)
    with _session() as session:
        try:
            set_password(session, username, password, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"password of {username} changed")


@user_app.command("totp")
def user_totp(username: str = typer.Argument(...)) -> None:
    """Enrol (or replace) the user's TOTP second factor; prints the otpauth:// URI last."""
    from shelfscan.auth.service import enrol_totp
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            uri = enrol_totp(session, username, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"add this to {username}'s authenticator app (shown once):")
    typer.echo(uri)


# --- API keys ----------------------------------------------------------------------------------


@apikey_app.command("create")
def apikey_create(
    role: str = typer.Option(..., "--role", help=_ROLE_HELP),
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. 'Power BI'."),
    store: str | None = _STORE,
    region: str | None = _REGION,
    expires_days: int | None = typer.Option(
        None, "--expires-days", min=1, help="Expire after this many days (default: never)."
    ),
) -> None:
    """Create an API key. The key is printed ALONE on the last line (shown once)."""
    from shelfscan.auth.service import create_api_key
    from shelfscan.db.base import utcnow
    from shelfscan.services.errors import ShelfscanError

    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    with _session() as session:
        try:
            grant = _grant(session, role, store, region)
            key, secret = create_api_key(session, name, grant, expires_at=expires_at, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
        prefix = key.prefix
    typer.echo(f"API key {prefix} ({name}, {grant.label()}) created; it is shown only now:")
    typer.echo(secret)


@apikey_app.command("list")
def apikey_list() -> None:
    """Keys by prefix, with role, scope, expiry, last use and revocation."""
    from shelfscan.auth.service import api_key_grant, list_api_keys

    with _session() as session:
        for key in list_api_keys(session):
            state = "revoked" if key.revoked_at else "active"
            last = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            expires = key.expires_at.isoformat(timespec="seconds") if key.expires_at else "never"
            typer.echo(
                f"{key.prefix}\t{key.name}\t{api_key_grant(key).label()}\t{state}\t"
                f"expires {expires}\tlast used {last}"
            )


@apikey_app.command("revoke")
def apikey_revoke(prefix: str = typer.Argument(..., help="The key's prefix (see list).")) -> None:
    """Revoke a key at once."""
    from shelfscan.auth.service import revoke_api_key
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            revoke_api_key(session, prefix, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"API key {prefix} revoked")


# --- devices -----------------------------------------------------------------------------------


@device_app.command("enrol")
def device_enrol(
    store: str = typer.Option(..., "--store", help="The store the phone will work for."),
) -> None:
    """A one-time enrolment code for a store phone, printed alone on the last line. The phone
    exchanges it (staff page or POST /api/v1/auth/device/enrol) for a long-lived token."""
    from shelfscan.auth.service import AuthPolicy, create_enrolment_code
    from shelfscan.services.errors import ShelfscanError
    from shelfscan.services.stores import get_store

    with _session() as session:
        try:
            row, code = create_enrolment_code(
                session, get_store(session, store), actor=LOCAL, policy=AuthPolicy()
            )
        except ShelfscanError as error:
            raise _refusal(error) from None
        expires = row.expires_at.isoformat(timespec="minutes")
    typer.echo(f"enrolment code for store {store}, valid once until {expires}:")
    typer.echo(code)


@device_app.command("list")
def device_list() -> None:
    """Enrolled phones."""
    from sqlalchemy import select

    from shelfscan.auth.service import list_devices
    from shelfscan.db.models import Store

    with _session() as session:
        codes = {row.id: row.code for row in session.execute(select(Store.id, Store.code))}
        for device in list_devices(session):
            state = "revoked" if device.revoked_at else "active"
            typer.echo(
                f"{device.prefix}\t{codes.get(device.store_id, '?')}\t{device.name}\t{state}"
            )


@device_app.command("revoke")
def device_revoke(prefix: str = typer.Argument(...)) -> None:
    """Revoke a phone's token at once."""
    from shelfscan.auth.service import revoke_device
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            revoke_device(session, prefix, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"device {prefix} revoked")


# --- regions -----------------------------------------------------------------------------------


@region_app.command("add")
def region_add(
    code: str = typer.Argument(..., help="Region code; stores name it in --region."),
    name: str = typer.Argument(..., help="Region name."),
    time_zone: str = typer.Option("UTC", "--time-zone", help="IANA zone, e.g. Europe/Berlin."),
) -> None:
    """Create a region."""
    from shelfscan.auth.service import add_region
    from shelfscan.services.errors import ShelfscanError

    with _session() as session:
        try:
            add_region(session, code, name, time_zone, actor=LOCAL)
        except ShelfscanError as error:
            raise _refusal(error) from None
    typer.echo(f"region {code} created ({time_zone})")


@region_app.command("list")
def region_list() -> None:
    """Regions with their time zones."""
    from shelfscan.auth.service import list_regions

    with _session() as session:
        for region in list_regions(session):
            typer.echo(f"{region.code}\t{region.name}\t{region.time_zone}")
