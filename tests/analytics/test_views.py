"""The reporting views are a contract with BI tools: names, columns and meaning, on SQLite
(``reporting_<name>``) and PostgreSQL (``reporting.<name>``)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shelfscan.analytics.queries import Filters, Level, Period, kpi_rows
from shelfscan.analytics.views import COLUMNS, REPORTING_VERSION, VIEWS, view_name
from shelfscan.db.session import engine_for, session_scope


def test_every_view_has_its_documented_columns(chain_url: str) -> None:
    engine = engine_for(chain_url)
    assert set(VIEWS) == set(COLUMNS)
    with engine.connect() as connection:
        dialect = connection.dialect.name
        for name, columns in COLUMNS.items():
            result = connection.execute(text(f"SELECT * FROM {view_name(dialect, name)} LIMIT 1"))
            assert tuple(result.keys()) == columns, name
            if name not in ("dim_region",):
                assert result.first() is not None, f"{name} is empty on a generated chain"
        version = connection.execute(text(f"SELECT version FROM {view_name(dialect, 'version')}"))
        assert version.scalar() == REPORTING_VERSION


def test_views_give_the_api_numbers(chain_url: str) -> None:
    with engine_for(chain_url).connect() as connection:
        name = view_name(connection.dialect.name, "daily_bay_kpis")
        ok, visible, unexpected = connection.execute(
            text(f"SELECT SUM(ok), SUM(visible), SUM(unexpected) FROM {name}")
        ).one()
        facts = view_name(connection.dialect.name, "fact_facing")
        statuses = dict(
            connection.execute(text(f"SELECT status, COUNT(*) FROM {facts} GROUP BY status")).all()
        )
    with session_scope(chain_url) as session:
        (chain,) = kpi_rows(session, Level.CHAIN, Period.ALL, Filters())
    assert (ok, visible, unexpected) == (chain["ok"], chain["visible"], chain["unexpected"])
    assert statuses["ok"] == ok and statuses["unexpected"] == unexpected
    assert chain["planogram_compliance"] == pytest.approx(ok / (visible + unexpected))
