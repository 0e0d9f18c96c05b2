from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.auth import service
from shelfscan.auth.errors import Forbidden, Throttled, Unauthenticated
from shelfscan.auth.models import AuditEvent
from shelfscan.auth.passwords import PasswordRejected, hash_password, verify_password
from shelfscan.auth.roles import Grant, Permission, Principal, PrincipalKind, Role, ScopeKind
from shelfscan.auth.scope import ensure_store_visible, store_filter
from shelfscan.auth.throttle import ThrottlePolicy
from shelfscan.db.base import utcnow
from shelfscan.db.models import Store
from shelfscan.services.errors import BadRequest, NotFound
from tests.auth.conftest import PASSWORD

LOCAL = "cli:local"


def _principal(*grants: Grant) -> Principal:
    return Principal(kind=PrincipalKind.API_KEY, id="x", name="x", grants=grants)


def _visible(db: Session, principal: Principal, permission: Permission) -> list[str]:
    return list(
        db.scalars(
            select(Store.code).where(store_filter(principal, permission)).order_by(Store.code)
        )
    )


def test_passwords_are_argon2id_and_at_least_twelve_characters() -> None:
    with pytest.raises(PasswordRejected, match="at least 12"):
        hash_password("short-pass")
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert verify_password(PASSWORD, hashed)
    assert not verify_password(PASSWORD + "x", hashed)
    assert not verify_password(PASSWORD, None)


def test_scope_filter_follows_store_region_and_chain_grants(db: Session) -> None:
    store = _principal(Grant(Role.STORE_MANAGER, ScopeKind.STORE, "S001"))
    region = _principal(Grant(Role.REGIONAL_MANAGER, ScopeKind.REGION, "north"))
    chain = _principal(Grant(Role.HQ_ANALYST, ScopeKind.CHAIN))
    nobody = _principal()
    assert _visible(db, store, Permission.SCANS_READ) == ["S001"]
    assert _visible(db, region, Permission.SCANS_READ) == ["S001", "S002"]
    assert _visible(db, chain, Permission.SCANS_READ) == ["S001", "S002", "S003"]
    assert _visible(db, nobody, Permission.SCANS_READ) == []
    # hq_analyst reads the chain but may not upload anywhere
    assert _visible(db, chain, Permission.SCANS_WRITE) == []


def test_out_of_scope_store_is_not_found_and_visible_store_without_right_is_forbidden(
    db: Session,
) -> None:
    s001, s003 = (db.scalar(select(Store).where(Store.code == c)) for c in ("S001", "S003"))
    manager = _principal(Grant(Role.STORE_MANAGER, ScopeKind.STORE, "S001"))
    assert ensure_store_visible(manager, s001, Permission.SCANS_WRITE) is s001
    with pytest.raises(NotFound):
        ensure_store_visible(manager, s003)
    mixed = _principal(
        Grant(Role.ASSOCIATE, ScopeKind.STORE, "S001"), Grant(Role.HQ_ANALYST, ScopeKind.CHAIN)
    )
    with pytest.raises(Forbidden):
        ensure_store_visible(mixed, s003, Permission.SCANS_WRITE)


def test_grants_must_fit_the_role_and_name_a_known_scope(db: Session) -> None:
    with pytest.raises(BadRequest, match="cannot be scoped to a chain"):
        service.make_grant(db, Role.STORE_MANAGER, None, None)
    with pytest.raises(NotFound, match="store 'S999'"):
        service.make_grant(db, Role.ASSOCIATE, "S999", None)
    with pytest.raises(BadRequest, match="not both"):
        service.make_grant(db, Role.HQ_ANALYST, "S001", "north")
    grant = service.make_grant(db, Role.REGIONAL_MANAGER, None, "north")
    assert grant == Grant(Role.REGIONAL_MANAGER, ScopeKind.REGION, "north")


def test_login_opens_a_session_and_logout_or_disable_ends_it(db: Session) -> None:
    grant = service.make_grant(db, Role.STORE_MANAGER, "S001", None)
    service.add_user(db, "mia@example.com", PASSWORD, grant, actor=LOCAL)
    result = service.login(
        db,
        "mia@example.com",
        PASSWORD,
        None,
        client_address="10.0.0.1",
        user_agent="t",
        policy=service.AuthPolicy(),
    )
    principal, row = service.resolve_session(db, result.token)
    assert principal.name == "mia@example.com"
    assert principal.grants == (grant,)
    assert row.csrf_token == result.csrf_token
    service.set_active(db, "mia@example.com", False, actor=LOCAL)
    with pytest.raises(Unauthenticated):
        service.resolve_session(db, result.token)
    events = [e.event for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == ["user_created", "login", "user_disabled"]


def test_wrong_password_is_counted_and_locks_the_account_with_back_off(db: Session) -> None:
    grant = service.make_grant(db, Role.ASSOCIATE, "S001", None)
    service.add_user(db, "ana", PASSWORD, grant, actor=LOCAL)
    policy = service.AuthPolicy(throttle=ThrottlePolicy(account_threshold=3, base_delay_s=60))
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="wrong user name or password"):
            service.login(
                db,
                "ana",
                "wrong password!",
                None,
                client_address="10.0.0.2",
                user_agent=None,
                policy=policy,
            )
    # now even the right password is refused until the back-off has passed
    with pytest.raises(Throttled) as throttled:
        service.login(
            db, "ana", PASSWORD, None, client_address="10.0.0.3", user_agent=None, policy=policy
        )
    assert 0 < throttled.value.retry_after_s <= 61
    failures = db.scalars(
        select(AuditEvent.outcome).where(AuditEvent.event.in_(["login", "login_throttled"]))
    ).all()
    assert failures == ["failure", "failure", "failure", "refused"]


def test_address_lock_out_covers_every_account(db: Session) -> None:
    policy = service.AuthPolicy(
        throttle=ThrottlePolicy(account_threshold=100, address_threshold=2, base_delay_s=60)
    )
    for name in ("a", "b"):
        with pytest.raises(Unauthenticated):
            service.login(
                db, name, PASSWORD, None, client_address="10.9.9.9", user_agent=None, policy=policy
            )
    with pytest.raises(Throttled, match="this address"):
        service.login(
            db, "c", PASSWORD, None, client_address="10.9.9.9", user_agent=None, policy=policy
        )


def test_totp_is_required_for_configured_roles(db: Session) -> None:
    grant = service.make_grant(db, Role.ADMIN, None, None)
    service.add_user(db, "root", PASSWORD, grant, actor=LOCAL)
    policy = service.AuthPolicy(require_totp_for=frozenset({Role.ADMIN}))
    with pytest.raises(Unauthenticated) as refused:
        service.login(
            db, "root", PASSWORD, None, client_address=None, user_agent=None, policy=policy
        )
    assert refused.value.code == "totp_not_enrolled"
    uri = service.enrol_totp(db, "root", actor=LOCAL)
    secret = pyotp.parse_uri(uri).secret
    with pytest.raises(Unauthenticated) as refused:
        service.login(
            db, "root", PASSWORD, None, client_address=None, user_agent=None, policy=policy
        )
    assert refused.value.code == "totp_required"
    with pytest.raises(Unauthenticated):
        service.login(
            db, "root", PASSWORD, "000000", client_address=None, user_agent=None, policy=policy
        )
    code = pyotp.TOTP(secret).now()
    result = service.login(
        db, "root", PASSWORD, code, client_address=None, user_agent=None, policy=policy
    )
    assert result.principal.can(Permission.AUDIT_READ)


def test_api_key_is_stored_as_prefix_and_hash_and_can_expire_or_be_revoked(db: Session) -> None:
    grant = service.make_grant(db, Role.HQ_ANALYST, None, "north")
    key, secret = service.create_api_key(db, "Power BI", grant, actor=LOCAL)
    assert secret.startswith(f"ssk_{key.prefix}_")
    assert secret not in (key.key_hash, key.prefix)
    principal = service.resolve_bearer_secret(db, secret)
    assert principal.kind is PrincipalKind.API_KEY
    assert principal.grants == (grant,)
    assert key.last_used_at is not None
    with pytest.raises(Unauthenticated):
        service.resolve_bearer_secret(db, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    key.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        service.resolve_bearer_secret(db, secret)
    key.expires_at = None
    service.revoke_api_key(db, key.prefix, actor=LOCAL)
    with pytest.raises(Unauthenticated):
        service.resolve_bearer_secret(db, secret)


def test_device_enrolment_code_is_single_use_and_scopes_the_device_to_its_store(
    db: Session,
) -> None:
    s002 = db.scalar(select(Store).where(Store.code == "S002"))
    policy = service.AuthPolicy()
    _, code = service.create_enrolment_code(db, s002, actor=LOCAL, policy=policy)
    device, token, store = service.enrol_device(
        db, code.lower(), "till 2 phone", client_address="10.1.1.1", policy=policy
    )
    assert store.code == "S002"
    service.set_device_associate(db, device.prefix, "Jo")
    principal = service.resolve_bearer_secret(db, token)
    assert principal.grants == (Grant(Role.ASSOCIATE, ScopeKind.STORE, "S002"),)
    assert principal.associate == "Jo"
    with pytest.raises(Unauthenticated, match="used or expired"):
        service.enrol_device(db, code, "again", client_address="10.1.1.1", policy=policy)
    service.revoke_device(db, device.prefix, actor=LOCAL)
    with pytest.raises(Unauthenticated):
        service.resolve_bearer_secret(db, token)


def test_regions_carry_an_iana_time_zone(db: Session) -> None:
    with pytest.raises(BadRequest, match="not an IANA time zone"):
        service.add_region(db, "east", "East", "Mars/Olympus", actor=LOCAL)
    service.add_region(db, "east", "East", "Europe/Berlin", actor=LOCAL)
    store = db.scalar(select(Store).where(Store.code == "S003"))
    assert service.store_time_zone(db, store) == "UTC"
    store.region = "east"
    assert service.store_time_zone(db, store) == "Europe/Berlin"
