"""The one scope filter: every query that returns store data passes through here.

``store_filter(principal, permission)`` is a SQLAlchemy condition on :class:`Store` that is
true exactly for the stores where some grant of the principal carrying ``permission`` applies.
Queries join or sub-select on it; :func:`ensure_store_visible` applies the same rule to one
store already loaded. A store outside the caller's scope is reported as *not found* (404), never
as forbidden, so store codes and object ids do not leak.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from shelfscan.auth.errors import Forbidden
from shelfscan.auth.roles import Permission, Principal, ScopeKind
from shelfscan.db.models import Store
from shelfscan.services.errors import NotFound


def store_filter(
    principal: Principal, permission: Permission | str = Permission.STORES_READ
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    store_codes: set[str] = set()
    region_codes: set[str] = set()
    for grant in principal.grants_with(permission):
        if grant.scope is ScopeKind.CHAIN:
            return true()
        if grant.scope is ScopeKind.STORE and grant.code:
            store_codes.add(grant.code)
        elif grant.scope is ScopeKind.REGION and grant.code:
            region_codes.add(grant.code)
    if store_codes:
        conditions.append(Store.code.in_(sorted(store_codes)))
    if region_codes:
        conditions.append(Store.region.in_(sorted(region_codes)))
    if not conditions:
        return false()
    return or_(*conditions)


def visible_store_ids(
    principal: Principal, permission: Permission | str = Permission.STORES_READ
) -> Select[tuple[int]]:
    """A sub-select of the ids of the stores in scope, for ``X.store_id.in_(...)``."""
    return select(Store.id).where(store_filter(principal, permission))


def store_visible(
    principal: Principal, store: Store, permission: Permission | str = Permission.STORES_READ
) -> bool:
    """The Python twin of :func:`store_filter` for a store already loaded (no query)."""
    for grant in principal.grants_with(permission):
        if grant.scope is ScopeKind.CHAIN:
            return True
        if grant.scope is ScopeKind.STORE and grant.code == store.code:
            return True
        if grant.scope is ScopeKind.REGION and store.region and grant.code == store.region:
            return True
    return False


def ensure_store_visible(
    principal: Principal, store: Store, permission: Permission | str = Permission.STORES_READ
) -> Store:
    """``store`` when the principal may use it with ``permission``; else the same
    :class:`NotFound` as a store that does not exist — unless the principal may *see* the
    store (another grant reads it), where hiding it would be pointless: then 403."""
    if store_visible(principal, store, permission):
        return store
    if permission != Permission.STORES_READ and store_visible(principal, store):
        raise Forbidden(f"{permission} is not granted for store {store.code!r}")
    raise NotFound("not_found", f"store {store.code!r} not found")


def visible_stores(
    session: Session, principal: Principal, permission: Permission | str = Permission.STORES_READ
) -> list[Store]:
    """The stores in the principal's scope, by code."""
    return list(
        session.scalars(
            select(Store).where(store_filter(principal, permission)).order_by(Store.code)
        )
    )
