"""Tables. Every row that belongs to a store carries its ``store_id`` so that queries are scoped
by store and per-store access control can be added without reshaping anything."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shelfscan.db.base import Base, UTCDateTime, utcnow
from shelfscan.services.status import ScanStatus


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    bays: Mapped[list[Bay]] = relationship(back_populates="store", order_by="Bay.code")


class Bay(Base):
    __tablename__ = "bays"
    __table_args__ = (UniqueConstraint("store_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), doc="Aisle/bay identifier, e.g. A03-B2")
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    store: Mapped[Store] = relationship(back_populates="bays")
    assignments: Mapped[list[BayAssignment]] = relationship(
        back_populates="bay", order_by="BayAssignment.effective_from"
    )


class CatalogProduct(Base):
    """The product master: a GTIN is the same product in every planogram."""

    __tablename__ = "catalog_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    brand: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    depth: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Planogram(Base):
    __tablename__ = "planograms"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True, doc="Stable planogram id")
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[PlanogramVersion]] = relationship(
        back_populates="planogram", order_by="PlanogramVersion.version"
    )


class PlanogramVersion(Base):
    """An immutable, published planogram document. Editing publishes a new version."""

    __tablename__ = "planogram_versions"
    __table_args__ = (UniqueConstraint("planogram_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    planogram_id: Mapped[int] = mapped_column(
        ForeignKey("planograms.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(doc="Canonical planogram JSON")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    source_format: Mapped[str] = mapped_column(String(32), default="canonical")
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    planogram: Mapped[Planogram] = relationship(back_populates="versions")
    products: Mapped[list[PlanogramVersionProduct]] = relationship(back_populates="version")


class PlanogramVersionProduct(Base):
    """Links a planogram's local product id to the shared product master."""

    __tablename__ = "planogram_version_products"
    __table_args__ = (UniqueConstraint("planogram_version_id", "product_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    planogram_version_id: Mapped[int] = mapped_column(
        ForeignKey("planogram_versions.id", ondelete="CASCADE"), index=True
    )
    product_key: Mapped[str] = mapped_column(String(128))
    catalog_product_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_products.id", ondelete="RESTRICT"), index=True
    )

    version: Mapped[PlanogramVersion] = relationship(back_populates="products")
    catalog_product: Mapped[CatalogProduct] = relationship()


class BayAssignment(Base):
    """Which planogram version a bay is measured against, from ``effective_from`` (inclusive)
    until ``effective_to`` (exclusive; open-ended when null)."""

    __tablename__ = "bay_assignments"
    __table_args__ = (Index("ix_bay_assignments_bay_from", "bay_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    bay_id: Mapped[int] = mapped_column(ForeignKey("bays.id", ondelete="CASCADE"))
    planogram_version_id: Mapped[int] = mapped_column(
        ForeignKey("planogram_versions.id", ondelete="RESTRICT"), index=True
    )
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    bay: Mapped[Bay] = relationship(back_populates="assignments")
    planogram_version: Mapped[PlanogramVersion] = relationship()


class Scan(Base):
    """One analysis of one bay from one or more photos."""

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("store_id", "idempotency_key"),
        Index("ix_scans_store_created", "store_id", "created_at"),
        Index("ix_scans_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    bay_id: Mapped[int] = mapped_column(ForeignKey("bays.id", ondelete="CASCADE"), index=True)
    planogram_version_id: Mapped[int] = mapped_column(
        ForeignKey("planogram_versions.id", ondelete="RESTRICT"),
        doc="The exact planogram version this scan is checked against",
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of what the request with that key sent (bay, photos, taken_by): a retry must
    # send the same, or it is refused rather than answered with another request's scan.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ScanStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    taken_by: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[dict[str, Any] | None] = mapped_column()
    report: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker that holds the scan and until when; an expired lease means the worker died
    # and the scan is queued again (shelfscan.jobs.reaper).
    leased_by: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    photos: Mapped[list[ScanPhoto]] = relationship(
        back_populates="scan", order_by="ScanPhoto.index", cascade="all, delete-orphan"
    )


class ScanPhoto(Base):
    __tablename__ = "scan_photos"
    __table_args__ = (UniqueConstraint("scan_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))

    scan: Mapped[Scan] = relationship(back_populates="photos")


class ReportVersion(Base):
    """Every report a scan has had, numbered from 1 (the analysis); later versions come from
    corrections and from re-analysis after a further photo. ``scans.report`` holds the newest,
    so every reader sees it; the history starts once a scan's report first changes."""

    # The table was created by the corrections work (migration 0007); its name stays.
    __tablename__ = "review_report_versions"
    __table_args__ = (UniqueConstraint("scan_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, doc="1: the analysis; then each change")
    report: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
