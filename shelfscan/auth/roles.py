"""Roles, scopes and permissions, and the :class:`Principal` a request acts as.

A principal holds one or more *grants*: a role over a scope (one store, one region or the
whole chain). A permission is allowed on a store when some grant whose role carries that
permission covers the store; :mod:`shelfscan.auth.scope` turns the same rule into a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ASSOCIATE = "associate"
    STORE_MANAGER = "store_manager"
    REGIONAL_MANAGER = "regional_manager"
    HQ_ANALYST = "hq_analyst"
    ADMIN = "admin"


class ScopeKind(StrEnum):
    STORE = "store"
    REGION = "region"
    CHAIN = "chain"


class Permission(StrEnum):
    STORES_READ = "stores:read"
    STORES_WRITE = "stores:write"  # create stores and regions
    BAYS_WRITE = "bays:write"  # add bays, assign planogram versions
    SCANS_READ = "scans:read"
    SCANS_WRITE = "scans:write"  # upload, retry
    PLANOGRAMS_READ = "planograms:read"
    PLANOGRAMS_WRITE = "planograms:write"  # publish, import
    RECOGNITION_RUN = "recognition:run"  # the Azure-compatible routes
    DEVICES_ENROL = "devices:enrol"
    USERS_ADMIN = "users:admin"
    API_KEYS_ADMIN = "apikeys:admin"
    AUDIT_READ = "audit:read"
    CORRECTIONS_WRITE = "corrections:write"  # confirm or correct a scan's verdicts
    REVIEW_READ = "review:read"  # the review queue and field accuracy


_READ = {
    Permission.STORES_READ,
    Permission.SCANS_READ,
    Permission.PLANOGRAMS_READ,
}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ASSOCIATE: frozenset(
        _READ | {Permission.SCANS_WRITE, Permission.RECOGNITION_RUN, Permission.CORRECTIONS_WRITE}
    ),
    Role.STORE_MANAGER: frozenset(
        _READ
        | {
            Permission.SCANS_WRITE,
            Permission.RECOGNITION_RUN,
            Permission.BAYS_WRITE,
            Permission.DEVICES_ENROL,
            Permission.CORRECTIONS_WRITE,
            Permission.REVIEW_READ,
        }
    ),
    Role.REGIONAL_MANAGER: frozenset(
        _READ
        | {
            Permission.SCANS_WRITE,
            Permission.RECOGNITION_RUN,
            Permission.BAYS_WRITE,
            Permission.DEVICES_ENROL,
            Permission.CORRECTIONS_WRITE,
            Permission.REVIEW_READ,
        }
    ),
    # Head office reads everything it is scoped to, runs recognition and audits the verdicts
    # (review queue, field accuracy); it changes nothing in the stores.
    Role.HQ_ANALYST: frozenset(_READ | {Permission.RECOGNITION_RUN, Permission.REVIEW_READ}),
    Role.ADMIN: frozenset(Permission),
}

# Which scope kinds make sense for a role: an associate works in one store, a regional
# manager over regions; head office and admins may be narrowed but usually see the chain.
ALLOWED_SCOPES: dict[Role, frozenset[ScopeKind]] = {
    Role.ASSOCIATE: frozenset({ScopeKind.STORE}),
    Role.STORE_MANAGER: frozenset({ScopeKind.STORE}),
    Role.REGIONAL_MANAGER: frozenset({ScopeKind.REGION}),
    Role.HQ_ANALYST: frozenset(ScopeKind),
    Role.ADMIN: frozenset(ScopeKind),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        accepted = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {value!r}; accepted: {accepted}") from None


def check_scope(role: Role, kind: ScopeKind, code: str | None) -> None:
    """Refuse a grant that makes no sense: a store manager of the chain, a region without a
    code."""
    if kind not in ALLOWED_SCOPES[role]:
        accepted = ", ".join(sorted(k.value for k in ALLOWED_SCOPES[role]))
        raise ValueError(f"role {role.value} cannot be scoped to a {kind.value}; use {accepted}")
    if kind is ScopeKind.CHAIN and code:
        raise ValueError("a chain-wide grant takes no store or region code")
    if kind is not ScopeKind.CHAIN and not code:
        raise ValueError(f"a {kind.value} grant needs a {kind.value} code")


@dataclass(frozen=True)
class Grant:
    role: Role
    scope: ScopeKind
    code: str | None = None  # store code or region code; None for the chain

    def label(self) -> str:
        where = "chain" if self.scope is ScopeKind.CHAIN else f"{self.scope.value} {self.code}"
        return f"{self.role.value} @ {where}"


class PrincipalKind(StrEnum):
    USER = "user"  # password session
    API_KEY = "api_key"
    DEVICE = "device"
    OIDC = "oidc"


@dataclass(frozen=True)
class Principal:
    """Who is asking, as far as every check is concerned."""

    kind: PrincipalKind
    id: str  # user id, key prefix, device id or OIDC subject
    name: str
    grants: tuple[Grant, ...]
    # For a device: the associate currently using it (the scan's ``taken_by``).
    associate: str | None = None
    session_id: int | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        allowed: set[Permission] = set()
        for grant in self.grants:
            allowed |= ROLE_PERMISSIONS[grant.role]
        return frozenset(allowed)

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in self.permissions

    def grants_with(self, permission: Permission | str) -> tuple[Grant, ...]:
        wanted = Permission(permission)
        return tuple(g for g in self.grants if wanted in ROLE_PERMISSIONS[g.role])

    def is_chain_wide(self, permission: Permission | str) -> bool:
        return any(g.scope is ScopeKind.CHAIN for g in self.grants_with(permission))

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``kind:id``."""
        return f"{self.kind.value}:{self.id}"
