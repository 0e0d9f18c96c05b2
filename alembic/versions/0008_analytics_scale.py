"""Analytics at scale: a daily product × region rollup (backfilled from the per-bay one) and a
covering index of problem episodes for time to fix.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = ("visible", "ok", "gap", "misplaced", "unexpected", "seen", "credited")


def upgrade() -> None:
    op.create_table(
        "analytics_daily_product_region",
        sa.Column("scan_date", sa.Date(), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("product_key", sa.String(length=128), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("brand", sa.String(length=255), nullable=True),
        sa.Column("category", sa.String(length=255), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint(
            "scan_date", "region", "product_key", name=op.f("pk_analytics_daily_product_region")
        ),
    )
    sums = ", ".join(f"SUM({name})" for name in SUMS)
    op.execute(
        f"INSERT INTO analytics_daily_product_region (scan_date, region, product_key, "
        f"week_start, brand, category, {', '.join(SUMS)}) "
        f"SELECT scan_date, COALESCE(region, ''), product_key, MAX(week_start), MAX(brand), "
        f"MAX(category), {sums} FROM analytics_daily_product "
        f"GROUP BY scan_date, COALESCE(region, ''), product_key"
    )
    with op.batch_alter_table("analytics_problem_episode", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_problem_episode_closed")
        batch_op.create_index(
            "ix_analytics_problem_episode_fixed",
            ["closed_at", "region", "store_id", "product_key", "opened_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("analytics_problem_episode", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_problem_episode_fixed")
        batch_op.create_index("ix_analytics_problem_episode_closed", ["closed_at"], unique=False)
    op.drop_table("analytics_daily_product_region")
