"""Request-scoped dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shelfscan.db.session import session_scope
from shelfscan.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns, rolled back if it raises.

    Used with ``scope="function"`` (below): the commit runs before the response is sent, so a
    client that follows a 201 always finds what it created, and a commit that fails (a
    uniqueness race) is answered as an error rather than after a success was already sent."""
    with session_scope(request.app.state.settings.resolved_database_url) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]
