from __future__ import annotations

from datetime import date

import pytest

from shelfscan.analytics.synth_chain import ChainSpec, synth_chain
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope

# A small chain with a fixed calendar, so that weeks and weekdays are the same on every run.
SMALL_CHAIN = ChainSpec(stores=6, bays=3, weeks=3, facings=12, end=date(2026, 11, 29), seed=11)


@pytest.fixture
def chain_url(database_url: str) -> str:
    """A migrated database holding the small synthetic chain."""
    upgrade(database_url)
    with session_scope(database_url) as session:
        synth_chain(session, SMALL_CHAIN)
    return database_url


@pytest.fixture
def sqlite_chain_url(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        synth_chain(session, SMALL_CHAIN)
    return sqlite_url
