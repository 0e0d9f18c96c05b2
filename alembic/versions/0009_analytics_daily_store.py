"""Analytics: a daily per-store rollup (backfilled from the per-bay one) for chain-, region- and
store-level figures.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = ("scans", "visible", "ok", "gap", "misplaced", "unexpected", "credited")


def upgrade() -> None:
    op.create_table(
        "analytics_daily_store",
        sa.Column("scan_date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=True),
        sa.Column("week_start", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint("scan_date", "store_id", name=op.f("pk_analytics_daily_store")),
    )
    sums = ", ".join(f"SUM({name})" for name in SUMS)
    op.execute(
        f"INSERT INTO analytics_daily_store (scan_date, store_id, region, week_start, "
        f"{', '.join(SUMS)}) "
        f"SELECT scan_date, store_id, MAX(region), MAX(week_start), {sums} "
        f"FROM analytics_daily_bay GROUP BY scan_date, store_id"
    )


def downgrade() -> None:
    op.drop_table("analytics_daily_store")
