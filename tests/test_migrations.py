from __future__ import annotations

import pytest
from sqlalchemy import inspect

from shelfscan.analytics import models as analytics_models  # noqa: F401
from shelfscan.auth import models as auth_models  # noqa: F401
from shelfscan.db import models  # noqa: F401
from shelfscan.db.base import Base
from shelfscan.db.migrate import current_revision, downgrade, head_revision, upgrade
from shelfscan.db.session import engine_for


def _tables(url: str) -> set[str]:
    return set(inspect(engine_for(url)).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_model_table(database_url: str) -> None:
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()
    assert _tables(database_url) == set(Base.metadata.tables)


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    assert current_revision(database_url) is None
    assert _tables(database_url) == set()
    upgrade(database_url)
    assert _tables(database_url) == set(Base.metadata.tables)


def test_models_and_migrations_agree(database_url: str) -> None:
    """A model change without a migration shows up as an autogenerate diff."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    upgrade(database_url)
    with engine_for(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models differ from the migrations: {diff}"


@pytest.mark.parametrize("step", ["-1", "base"])
def test_each_downgrade_step_succeeds(sqlite_url: str, step: str) -> None:
    upgrade(sqlite_url)
    downgrade(sqlite_url, step)
    upgrade(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()
