"""Analytics: the daily fix histogram (problems opened and fixed per UTC day, region and
fix-duration bucket) for chain- and region-level time to fix, backfilled from the problem
episodes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_daily_fix",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("hours_sum", sa.Float(), nullable=False),
        sa.Column("hours_sq", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "region", "bucket", name=op.f("pk_analytics_daily_fix")),
    )
    # the buckets are computed in Python (logarithms SQLite may lack), by the same code as the
    # write path and `shelfscan analytics rebuild`
    from sqlalchemy.orm import Session

    from shelfscan.analytics.facts import rebuild_fix_histogram

    with Session(bind=op.get_bind()) as session:
        rebuild_fix_histogram(session)
        session.flush()


def downgrade() -> None:
    op.drop_table("analytics_daily_fix")
