"""A migrated database with two regions, three stores and an admin, for the access-control
tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from shelfscan.auth import models as _auth_models  # noqa: F401
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_factory
from shelfscan.services.stores import create_store

PASSWORD = "correct horse battery"


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    upgrade(database_url)
    session = session_factory(database_url)()
    create_store(session, "S001", "Main Street", "north")
    create_store(session, "S002", "Harbour", "north")
    create_store(session, "S003", "Hilltop", "south")
    session.commit()
    try:
        yield session
    finally:
        session.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/auth/" in str(item.path):
            item.add_marker(pytest.mark.no_default_credentials)
