"""The one seam between access control and analytics: which stores a caller's numbers cover.

A store manager sees their stores, a regional manager their region, head office the chain —
exactly the stores :func:`shelfscan.auth.scope.visible_store_ids` returns for
``stores:read``. ``None`` means no restriction (a chain-wide principal, or an app running
without access control, where every route is open)."""

from __future__ import annotations

from typing import Any

from shelfscan.auth.roles import Permission, Principal
from shelfscan.auth.scope import visible_store_ids


def store_scope(principal: Principal | None) -> Any:
    """A select of the store ids the principal may see, or None for all of them."""
    if principal is None or principal.is_chain_wide(Permission.STORES_READ):
        return None
    return visible_store_ids(principal, Permission.STORES_READ)
