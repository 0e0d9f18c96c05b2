"""Alembic environment. The database URL comes from shelfscan's settings unless the caller put
one in the config (``shelfscan db upgrade`` and the tests do)."""

from __future__ import annotations

from alembic import context

from shelfscan.analytics import models as analytics_models  # noqa: F401  (facts, rollups)
from shelfscan.audits import models as audit_models  # noqa: F401  (scheduled audits)
from shelfscan.auth import models as auth_models  # noqa: F401  (access-control tables)
from shelfscan.corrections import models as review_models  # noqa: F401  (human review)
from shelfscan.db import models  # noqa: F401  (registers the tables on Base.metadata)
from shelfscan.db.base import Base
from shelfscan.db.session import make_engine
from shelfscan.settings import get_settings

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = make_engine(database_url())
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
