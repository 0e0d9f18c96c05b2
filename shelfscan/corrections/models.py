"""Tables of human review, on the project's declarative ``Base`` (Alembic's ``env.py`` imports
this module so the model-vs-migration test sees them).

* a *correction* is one person's verdict on one facing or box of a scan: confirmed, or
  corrected (another product, not a gap, a gap, not this bay), with the verdict before and
  after, the box and who said so, when;
* report versions (every report a scan has had: the analysis, corrections, re-analysis after a
  further photo) are the scan's own history: :class:`shelfscan.db.models.ReportVersion`;
* a *gallery entry* is a crop a person vouched for, with the recogniser's features of it:
  the recogniser consults them next to the packshots (``shelfscan.corrections.gallery``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shelfscan.db.base import Base, UTCDateTime, utcnow
from shelfscan.db.models import ReportVersion


class Correction(Base):
    __tablename__ = "review_corrections"
    __table_args__ = (
        Index("ix_review_corrections_scan", "scan_id"),
        Index("ix_review_corrections_store_created", "store_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    facing_id: Mapped[str | None] = mapped_column(String(128))
    detection_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24), doc="A CorrectionKind value")
    status_before: Mapped[str | None] = mapped_column(String(24))
    status_after: Mapped[str | None] = mapped_column(String(24))
    product_before: Mapped[str | None] = mapped_column(String(128))
    product_after: Mapped[str | None] = mapped_column(String(128))
    # Pixels of the scan's first photo, x1 y1 x2 y2: the crop that was judged.
    box: Mapped[dict[str, Any] | None] = mapped_column()
    detector: Mapped[str | None] = mapped_column(String(255), doc="What made the verdict")
    confidence: Mapped[float | None] = mapped_column(Float, doc="The detector's, when known")
    report_version: Mapped[int] = mapped_column(Integer, doc="The version it produced")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GalleryEntry(Base):
    __tablename__ = "review_gallery"
    __table_args__ = (Index("ix_review_gallery_product", "product_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_key: Mapped[str] = mapped_column(String(128), doc="Planogram product id")
    product_name: Mapped[str] = mapped_column(String(255))
    gtin: Mapped[str | None] = mapped_column(String(14))
    new_product: Mapped[bool] = mapped_column(Boolean, default=False)
    storage_key: Mapped[str] = mapped_column(String(512), doc="The crop, JPEG")
    features: Mapped[dict[str, Any]] = mapped_column(doc="The recogniser's features of the crop")
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    scan_id: Mapped[str | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    correction_id: Mapped[int | None] = mapped_column(
        ForeignKey("review_corrections.id", ondelete="SET NULL")
    )
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["Correction", "GalleryEntry", "ReportVersion"]
