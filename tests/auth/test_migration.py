from __future__ import annotations

from sqlalchemy import text

from shelfscan.db.migrate import downgrade, upgrade
from shelfscan.db.session import engine_for


def test_existing_store_regions_become_regions_in_utc(database_url: str) -> None:
    upgrade(database_url, "0002")
    with engine_for(database_url).begin() as connection:
        for code, region in (("S1", "north"), ("S2", "north"), ("S3", None)):
            connection.execute(
                text(
                    "INSERT INTO stores (code, name, region, created_at) "
                    "VALUES (:code, :code, :region, CURRENT_TIMESTAMP)"
                ),
                {"code": code, "region": region},
            )
    upgrade(database_url, "0003")
    with engine_for(database_url).connect() as connection:
        rows = connection.execute(text("SELECT code, time_zone FROM regions")).all()
    assert [tuple(row) for row in rows] == [("north", "UTC")]
    downgrade(database_url, "0002")
    upgrade(database_url)
