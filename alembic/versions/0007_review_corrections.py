"""Human review: corrections of scan verdicts, report versions, the recogniser's gallery.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "review_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("facing_id", sa.String(length=128), nullable=True),
        sa.Column("detection_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status_before", sa.String(length=24), nullable=True),
        sa.Column("status_after", sa.String(length=24), nullable=True),
        sa.Column("product_before", sa.String(length=128), nullable=True),
        sa.Column("product_after", sa.String(length=128), nullable=True),
        sa.Column("box", JSON, nullable=True),
        sa.Column("detector", sa.String(length=255), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_review_corrections_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_review_corrections_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_corrections")),
    )
    op.create_index("ix_review_corrections_scan", "review_corrections", ["scan_id"])
    op.create_index(
        "ix_review_corrections_store_created", "review_corrections", ["store_id", "created_at"]
    )
    op.create_table(
        "review_report_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_review_report_versions_scan_id_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_report_versions")),
        sa.UniqueConstraint(
            "scan_id", "version", name=op.f("uq_review_report_versions_scan_id_version")
        ),
    )
    op.create_index(
        op.f("ix_review_report_versions_scan_id"), "review_report_versions", ["scan_id"]
    )
    op.create_table(
        "review_gallery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_key", sa.String(length=128), nullable=False),
        sa.Column("product_name", sa.String(length=255), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("new_product", sa.Boolean(), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.String(length=36), nullable=True),
        sa.Column("correction_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["review_corrections.id"],
            name=op.f("fk_review_gallery_correction_id_review_corrections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_review_gallery_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_review_gallery_store_id_stores"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_gallery")),
    )
    op.create_index("ix_review_gallery_product", "review_gallery", ["product_key"])


def downgrade() -> None:
    op.drop_index("ix_review_gallery_product", table_name="review_gallery")
    op.drop_table("review_gallery")
    op.drop_index(op.f("ix_review_report_versions_scan_id"), table_name="review_report_versions")
    op.drop_table("review_report_versions")
    op.drop_index("ix_review_corrections_store_created", table_name="review_corrections")
    op.drop_index("ix_review_corrections_scan", table_name="review_corrections")
    op.drop_table("review_corrections")
