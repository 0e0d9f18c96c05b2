"""Access-control operations shared by the CLI (acting locally, no principal) and the API.

Every change is written to the audit log with its actor (``kind:id``, or ``cli:local``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from shelfscan.auth import audit, throttle, tokens, totp
from shelfscan.auth.errors import Unauthenticated
from shelfscan.auth.models import (
    ApiKey,
    AuthSession,
    Device,
    EnrolmentCode,
    Region,
    User,
    UserGrant,
)
from shelfscan.auth.passwords import hash_password, verify_password
from shelfscan.auth.roles import Grant, Principal, PrincipalKind, Role, ScopeKind, check_scope
from shelfscan.auth.throttle import ThrottlePolicy
from shelfscan.db.base import utcnow
from shelfscan.db.models import Store
from shelfscan.services.errors import BadRequest, Conflict, NotFound

# Writing ``last_used_at`` on every request would turn each read into a write; a minute's
# precision is plenty for "is this key still in use".
LAST_USED_PRECISION = timedelta(seconds=60)


@dataclass(frozen=True)
class AuthPolicy:
    session_ttl_s: float = 12 * 3600
    require_totp_for: frozenset[Role] = frozenset()
    enrolment_code_ttl_s: float = 900
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)


# --- regions ---------------------------------------------------------------------------------


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "e.g. Europe/Berlin or America/New_York"
        if name.lower() in {z.lower() for z in available_timezones()}:
            hint = "time zone names are case-sensitive"
        raise BadRequest(
            "invalid_time_zone",
            f"time zone {name!r} is not an IANA time zone ({hint})",
            field="time_zone",
        ) from None
    return name


def add_region(
    session: Session, code: str, name: str, time_zone: str = "UTC", *, actor: str
) -> Region:
    check_time_zone(time_zone)
    if session.scalar(select(Region).where(Region.code == code)):
        raise Conflict("conflict", f"region {code!r} already exists")
    region = Region(code=code, name=name, time_zone=time_zone)
    session.add(region)
    session.flush()
    audit.record(session, "region_created", actor=actor, target=f"region:{code}")
    return region


def list_regions(session: Session) -> list[Region]:
    return list(session.scalars(select(Region).order_by(Region.code)))


def store_time_zone(session: Session, store: Store) -> str:
    """A store's IANA time zone: its region's, else UTC."""
    if store.region:
        zone = session.scalar(select(Region.time_zone).where(Region.code == store.region))
        if zone:
            return zone
    return "UTC"


def _check_scope_target(session: Session, kind: ScopeKind, code: str | None) -> None:
    if kind is ScopeKind.STORE:
        if not session.scalar(select(Store.id).where(Store.code == code)):
            raise NotFound("not_found", f"store {code!r} not found", field="store")
    elif kind is ScopeKind.REGION:
        known = session.scalar(select(Region.id).where(Region.code == code)) or session.scalar(
            select(Store.id).where(Store.region == code).limit(1)
        )
        if not known:
            raise NotFound("not_found", f"region {code!r} not found", field="region")


def make_grant(session: Session, role: Role, store: str | None, region: str | None) -> Grant:
    """The grant ``role`` over ``store``, ``region`` or (neither) the chain, checked."""
    if store and region:
        raise BadRequest("invalid_scope", "give a store or a region, not both", field="scope")
    kind = ScopeKind.STORE if store else ScopeKind.REGION if region else ScopeKind.CHAIN
    code = store or region
    try:
        check_scope(role, kind, code)
    except ValueError as error:
        raise BadRequest("invalid_scope", str(error), field="scope") from None
    _check_scope_target(session, kind, code)
    return Grant(role=role, scope=kind, code=code)


# --- users -----------------------------------------------------------------------------------


def get_user(session: Session, username: str) -> User:
    user = session.scalar(
        select(User).where(User.username == username).options(selectinload(User.grants))
    )
    if user is None:
        raise NotFound("not_found", f"user {username!r} not found")
    return user


def add_user(
    session: Session,
    username: str,
    password: str,
    grant: Grant,
    *,
    display_name: str = "",
    actor: str,
) -> User:
    username = username.strip()
    if not username or len(username) > 255:
        raise BadRequest("invalid_username", "user name must be 1-255 characters", field="username")
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("conflict", f"user {username!r} already exists", field="username")
    try:
        password_hash = hash_password(password)
    except ValueError as error:
        raise BadRequest("weak_password", str(error), field="password") from None
    user = User(
        username=username, display_name=display_name or username, password_hash=password_hash
    )
    user.grants.append(
        UserGrant(role=grant.role.value, scope_kind=grant.scope.value, scope_code=grant.code)
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user_created",
        actor=actor,
        target=f"user:{username}",
        details={"grant": grant.label()},
    )
    return user


def list_users(session: Session) -> list[User]:
    return list(
        session.scalars(select(User).order_by(User.username).options(selectinload(User.grants)))
    )


def user_grants(user: User) -> tuple[Grant, ...]:
    return tuple(
        Grant(role=Role(g.role), scope=ScopeKind(g.scope_kind), code=g.scope_code)
        for g in user.grants
    )


def set_role(session: Session, username: str, grant: Grant, *, actor: str) -> User:
    """Replace the user's grants with ``grant``; their sessions end (their rights changed)."""
    user = get_user(session, username)
    before = [g.label() for g in user_grants(user)]
    user.grants.clear()
    session.flush()
    user.grants.append(
        UserGrant(role=grant.role.value, scope_kind=grant.scope.value, scope_code=grant.code)
    )
    session.flush()
    revoke_user_sessions(session, user)
    audit.record(
        session,
        "role_changed",
        actor=actor,
        target=f"user:{username}",
        details={"before": before, "after": [grant.label()]},
    )
    return user


def set_active(session: Session, username: str, active: bool, *, actor: str) -> User:
    user = get_user(session, username)
    user.is_active = active
    if not active:
        revoke_user_sessions(session, user)
    audit.record(
        session,
        "user_disabled" if not active else "user_enabled",
        actor=actor,
        target=f"user:{username}",
    )
    return user


def set_password(session: Session, username: str, password: str, *, actor: str) -> User:
    user = get_user(session, username)
    try:
        user.password_hash = hash_password(password)
    except ValueError as error:
        raise BadRequest("weak_password", str(error), field="password") from None
    revoke_user_sessions(session, user)
    audit.record(session, "password_changed", actor=actor, target=f"user:{username}")
    return user


def enrol_totp(session: Session, username: str, *, actor: str) -> str:
    """A new TOTP secret for the user; returns the ``otpauth://`` URI to show once."""
    user = get_user(session, username)
    user.totp_secret = totp.new_secret()
    audit.record(session, "totp_enrolled", actor=actor, target=f"user:{username}")
    return totp.provisioning_uri(user.totp_secret, user.username)


def principal_for_user(user: User, kind: PrincipalKind = PrincipalKind.USER) -> Principal:
    return Principal(kind=kind, id=str(user.id), name=user.username, grants=user_grants(user))


# --- password login and sessions ---------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    token: str  # the cookie value, shown once
    csrf_token: str
    auth_session: AuthSession
    principal: Principal


def login(
    session: Session,
    username: str,
    password: str,
    totp_code: str | None,
    *,
    client_address: str | None,
    user_agent: str | None,
    policy: AuthPolicy,
) -> LoginResult:
    """Check the password (and the TOTP code where one is enrolled or required) and open a
    session. Failures are *committed* before the error propagates: the throttle must count
    them even though the request fails."""
    username = username.strip()
    try:
        throttle.check(session, username, client_address, policy.throttle)
    except Exception as refused:
        audit.record(
            session,
            "login_throttled",
            actor=None,
            target=f"user:{username}",
            outcome="refused",
            client_address=client_address,
        )
        session.commit()
        raise refused
    user = session.scalar(
        select(User).where(User.username == username).options(selectinload(User.grants))
    )
    reason = None
    if not verify_password(password, user.password_hash if user else None) or user is None:
        reason = "bad_credentials"
    elif not user.is_active:
        reason = "disabled"
    else:
        roles = {g.role for g in user_grants(user)}
        needs_totp = user.totp_secret is not None or bool(roles & policy.require_totp_for)
        if needs_totp:
            if user.totp_secret is None:
                reason = "totp_not_enrolled"
            elif not totp_code:
                reason = "totp_required"
            elif not totp.verify(user.totp_secret, totp_code):
                reason = "bad_totp"
    if reason is not None:
        throttle.note(session, username, client_address, succeeded=False, reason=reason)
        audit.record(
            session,
            "login",
            actor=None,
            target=f"user:{username}",
            outcome="failure",
            client_address=client_address,
            details={"reason": reason},
        )
        session.commit()
        messages = {
            "totp_required": ("totp_required", "a one-time code (TOTP) is required"),
            "totp_not_enrolled": (
                "totp_not_enrolled",
                "this role requires a second factor; ask an administrator to enrol one "
                "(shelfscan user totp)",
            ),
        }
        code, message = messages.get(reason, ("bad_credentials", "wrong user name or password"))
        raise Unauthenticated(message, code=code)
    assert user is not None
    throttle.note(session, username, client_address, succeeded=True)
    issued = tokens.issue(tokens.SecretKind.SESSION)
    now = utcnow()
    row = AuthSession(
        token_hash=issued.digest,
        csrf_token=tokens.csrf_token(),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.session_ttl_s),
        last_seen_at=now,
        client_address=client_address,
        user_agent=(user_agent or "")[:255] or None,
    )
    session.add(row)
    user.last_login_at = now
    session.flush()
    principal = principal_for_user(user)
    principal = Principal(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        grants=principal.grants,
        session_id=row.id,
    )
    audit.record(
        session,
        "login",
        actor=principal.actor,
        target=f"user:{username}",
        client_address=client_address,
        details={"session": row.id},
    )
    return LoginResult(
        token=issued.token, csrf_token=row.csrf_token, auth_session=row, principal=principal
    )


def resolve_session(session: Session, token: str) -> tuple[Principal, AuthSession]:
    parsed = tokens.parse(token)
    if parsed is None or parsed[0] is not tokens.SecretKind.SESSION:
        raise Unauthenticated("the session is not valid; sign in again", code="session_invalid")
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == tokens.digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthenticated("the session has ended; sign in again", code="session_invalid")
    user = session.scalar(
        select(User).where(User.id == row.user_id).options(selectinload(User.grants))
    )
    if user is None or not user.is_active:
        raise Unauthenticated("the session has ended; sign in again", code="session_invalid")
    if row.last_seen_at is None or now - row.last_seen_at > LAST_USED_PRECISION:
        row.last_seen_at = now
    base = principal_for_user(user)
    principal = Principal(
        kind=PrincipalKind.USER,
        id=base.id,
        name=base.name,
        grants=base.grants,
        session_id=row.id,
    )
    return principal, row


def logout(session: Session, session_id: int, *, actor: str, client_address: str | None) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record(
        session,
        "logout",
        actor=actor,
        target=f"session:{session_id}",
        client_address=client_address,
    )


def revoke_user_sessions(session: Session, user: User) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# --- API keys ----------------------------------------------------------------------------------


def create_api_key(
    session: Session,
    name: str,
    grant: Grant,
    *,
    expires_at: datetime | None = None,
    actor: str,
) -> tuple[ApiKey, str]:
    """A new key; the returned secret is shown once and never stored."""
    name = name.strip()
    if not name or len(name) > 255:
        raise BadRequest(
            "invalid_name", "an API key needs a name of 1-255 characters", field="name"
        )
    if expires_at is not None and expires_at <= utcnow():
        raise BadRequest("invalid_expiry", "the expiry must be in the future", field="expires_at")
    issued = tokens.issue(tokens.SecretKind.API_KEY)
    key = ApiKey(
        name=name,
        prefix=issued.prefix,
        key_hash=issued.digest,
        role=grant.role.value,
        scope_kind=grant.scope.value,
        scope_code=grant.code,
        created_by=actor,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        "api_key_created",
        actor=actor,
        target=f"api_key:{key.prefix}",
        details={"name": name, "grant": grant.label()},
    )
    return key, issued.token


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_api_key(session: Session, prefix: str, *, actor: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound("not_found", f"API key {prefix!r} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, "api_key_revoked", actor=actor, target=f"api_key:{prefix}")
    return key


def api_key_grant(key: ApiKey) -> Grant:
    return Grant(role=Role(key.role), scope=ScopeKind(key.scope_kind), code=key.scope_code)


def _touch(row: ApiKey | Device, now: datetime) -> None:
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now


def resolve_bearer_secret(session: Session, token: str) -> Principal:
    """The principal of an API key or device token; :class:`Unauthenticated` otherwise."""
    parsed = tokens.parse(token)
    invalid = Unauthenticated("the key or token is not valid", code="invalid_credentials")
    if parsed is None:
        raise invalid
    kind, prefix = parsed
    now = utcnow()
    if kind is tokens.SecretKind.API_KEY:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if key is None or not tokens.matches(token, key.key_hash) or key.revoked_at is not None:
            raise invalid
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthenticated("the API key has expired", code="expired_credentials")
        _touch(key, now)
        return Principal(
            kind=PrincipalKind.API_KEY, id=key.prefix, name=key.name, grants=(api_key_grant(key),)
        )
    if kind is tokens.SecretKind.DEVICE:
        device = session.scalar(select(Device).where(Device.prefix == prefix))
        if device is None or not tokens.matches(token, device.token_hash):
            raise invalid
        if device.revoked_at is not None:
            raise invalid
        store_code = session.scalar(select(Store.code).where(Store.id == device.store_id))
        _touch(device, now)
        return Principal(
            kind=PrincipalKind.DEVICE,
            id=device.prefix,
            name=device.name,
            grants=(Grant(Role.ASSOCIATE, ScopeKind.STORE, store_code),),
            associate=device.associate_name,
        )
    raise invalid


# --- devices -----------------------------------------------------------------------------------


def create_enrolment_code(
    session: Session, store: Store, *, actor: str, policy: AuthPolicy
) -> tuple[EnrolmentCode, str]:
    code = tokens.enrolment_code()
    row = EnrolmentCode(
        store_id=store.id,
        code_hash=tokens.digest(tokens.normalise_enrolment_code(code)),
        created_by=actor,
        expires_at=utcnow() + timedelta(seconds=policy.enrolment_code_ttl_s),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "device_enrolment_code_created",
        actor=actor,
        target=f"store:{store.code}",
        details={"expires_at": row.expires_at.isoformat()},
    )
    return row, code


def enrol_device(
    session: Session,
    code: str,
    device_name: str,
    *,
    client_address: str | None,
    policy: AuthPolicy,
) -> tuple[Device, str, Store]:
    """Exchange a one-time code for a device token (shown once). Wrong codes are throttled
    per client address like failed logins: the codes are short enough to type."""
    throttle_key = f"~device-enrolment:{client_address or 'local'}"
    throttle.check(session, throttle_key, client_address, policy.throttle)
    device_name = device_name.strip()[:255] or "store phone"
    row = session.scalar(
        select(EnrolmentCode).where(
            EnrolmentCode.code_hash == tokens.digest(tokens.normalise_enrolment_code(code))
        )
    )
    now = utcnow()
    if row is None or row.used_at is not None or row.expires_at <= now:
        throttle.note(session, throttle_key, client_address, succeeded=False, reason="bad_code")
        audit.record(
            session,
            "device_enrolled",
            actor=None,
            outcome="failure",
            client_address=client_address,
        )
        session.commit()  # the throttle and the audit log must keep the failure
        raise Unauthenticated(
            "the enrolment code is wrong, used or expired; ask the store manager for a new one",
            code="invalid_enrolment_code",
        )
    store = session.get(Store, row.store_id)
    assert store is not None
    issued = tokens.issue(tokens.SecretKind.DEVICE)
    device = Device(
        store_id=row.store_id,
        name=device_name,
        prefix=issued.prefix,
        token_hash=issued.digest,
        created_by=row.created_by,
    )
    session.add(device)
    session.flush()
    row.used_at = now
    row.device_id = device.id
    audit.record(
        session,
        "device_enrolled",
        actor=f"device:{device.prefix}",
        target=f"store:{store.code}",
        client_address=client_address,
        details={"name": device_name},
    )
    return device, issued.token, store


def set_device_associate(session: Session, prefix: str, associate: str | None) -> Device:
    device = session.scalar(select(Device).where(Device.prefix == prefix))
    if device is None:
        raise NotFound("not_found", f"device {prefix!r} not found")
    device.associate_name = (associate or "").strip()[:255] or None
    return device


def list_devices(session: Session, store_ids: Iterable[int] | None = None) -> list[Device]:
    query = select(Device).order_by(Device.id)
    if store_ids is not None:
        query = query.where(Device.store_id.in_(list(store_ids)))
    return list(session.scalars(query))


def revoke_device(session: Session, prefix: str, *, actor: str) -> Device:
    device = session.scalar(select(Device).where(Device.prefix == prefix))
    if device is None:
        raise NotFound("not_found", f"device {prefix!r} not found")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        audit.record(session, "device_revoked", actor=actor, target=f"device:{prefix}")
    return device
