"""Analytics tables on the project's declarative ``Base``: every facing verdict as a row, the
dimensions BI tools join on, and the rollups the dashboards read.

Written by :mod:`shelfscan.analytics.facts` when a scan finishes (and by ``shelfscan analytics
rebuild`` / ``shelfscan synth chain``); never edited by hand. Stores, bays and regions are the
operational tables themselves (``stores``, ``bays``, ``regions``); the reporting views
(:mod:`shelfscan.analytics.views`) expose them as dimensions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shelfscan.db.base import Base, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint (10 M+ rows).
BigId = BigInteger().with_variant(Integer(), "sqlite")

# A facing row's status: the report's verdicts plus ``unexpected`` (a product standing inside
# the bay where nothing is planned; ``facing_id`` is then null).
FACT_STATUSES = ("ok", "gap", "misplaced", "not_visible", "unexpected")
PROBLEM_STATUSES = ("gap", "misplaced")
HISTORY_LENGTH = 16  # verdicts kept per facing for "failing in N of its last M scans"


class FactScan(Base):
    """One conclusive, finished scan: its place, time and counts (the ``scans done`` KPI)."""

    __tablename__ = "analytics_fact_scan"
    __table_args__ = (
        Index("ix_analytics_fact_scan_bay_time", "bay_id", "scanned_at"),
        Index("ix_analytics_fact_scan_store_date", "store_id", "scan_date"),
    )

    scan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(8), doc="scan (a real scan) or synth")
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    bay_id: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scan_date: Mapped[date] = mapped_column(Date, doc="Local date in the store's time zone")
    week_start: Mapped[date] = mapped_column(Date, doc="Monday of scan_date's ISO week")
    planogram_version_id: Mapped[int | None] = mapped_column(Integer)
    photo_key: Mapped[str | None] = mapped_column(String(512))
    facings: Mapped[int] = mapped_column(Integer)
    visible: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    gap: Mapped[int] = mapped_column(Integer)
    misplaced: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)


class FactFacing(Base):
    """One planned facing's verdict in one scan, or one unexpected product inside the bay."""

    __tablename__ = "analytics_fact_facing"
    __table_args__ = (
        Index("ix_analytics_fact_facing_scan", "scan_id"),
        Index("ix_analytics_fact_facing_bay_date", "bay_id", "scan_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(String(36))
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    bay_id: Mapped[int] = mapped_column(Integer)
    fixture_id: Mapped[str | None] = mapped_column(String(128))
    facing_id: Mapped[str | None] = mapped_column(String(128))
    planned_product: Mapped[str | None] = mapped_column(String(128))
    found_product: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scan_date: Mapped[date] = mapped_column(Date)
    week_start: Mapped[date] = mapped_column(Date)
    planogram_version_id: Mapped[int | None] = mapped_column(Integer)
    photo_key: Mapped[str | None] = mapped_column(String(512))


class DimProduct(Base):
    """Products as facts name them (the planogram's product id), with brand and category."""

    __tablename__ = "analytics_dim_product"

    product_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    brand: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255))


class DimDate(Base):
    __tablename__ = "analytics_dim_date"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    week_start: Mapped[date] = mapped_column(Date)
    iso_year: Mapped[int] = mapped_column(Integer)
    iso_week: Mapped[int] = mapped_column(SmallInteger)
    weekday: Mapped[int] = mapped_column(SmallInteger, doc="1 = Monday … 7 = Sunday")
    month: Mapped[str] = mapped_column(String(7), doc="YYYY-MM")


class DailyBay(Base):
    """Per bay and local day: sums of every KPI's numerator and denominator."""

    __tablename__ = "analytics_daily_bay"
    __table_args__ = (
        Index("ix_analytics_daily_bay_store_date", "store_id", "scan_date"),
        Index("ix_analytics_daily_bay_date", "scan_date"),
    )

    scan_date: Mapped[date] = mapped_column(Date, primary_key=True)
    bay_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    week_start: Mapped[date] = mapped_column(Date)
    scans: Mapped[int] = mapped_column(Integer)
    visible: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    gap: Mapped[int] = mapped_column(Integer)
    misplaced: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    credited: Mapped[int] = mapped_column(
        Integer, doc="Σ over scans and products min(found, planned)"
    )


class DailyStore(Base):
    """Per store and local day: the per-bay daily sums added up, so that chain-, region- and
    store-level figures without a bay or product filter read tens of thousands of rows instead
    of hundreds of thousands. Kept equal to the per-bay rollup by the same write path (a
    bay-day's old sums subtracted, its new ones added; a bay-day re-aggregated to nothing
    leaves a row of zeros, which readers skip with ``scans > 0``) and rebuilt with it."""

    __tablename__ = "analytics_daily_store"

    scan_date: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region: Mapped[str | None] = mapped_column(String(128))
    week_start: Mapped[date] = mapped_column(Date)
    scans: Mapped[int] = mapped_column(Integer)
    visible: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    gap: Mapped[int] = mapped_column(Integer)
    misplaced: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    credited: Mapped[int] = mapped_column(Integer)


class DailyProduct(Base):
    """Per bay, product and local day: the same sums, for product, brand and category views."""

    __tablename__ = "analytics_daily_product"
    __table_args__ = (
        Index("ix_analytics_daily_product_date", "scan_date"),
        Index("ix_analytics_daily_product_product", "product_key"),
    )

    scan_date: Mapped[date] = mapped_column(Date, primary_key=True)
    bay_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    week_start: Mapped[date] = mapped_column(Date)
    brand: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255))
    visible: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    gap: Mapped[int] = mapped_column(Integer)
    misplaced: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    seen: Mapped[int] = mapped_column(Integer, doc="Facings holding this product, anywhere")
    credited: Mapped[int] = mapped_column(Integer)


class RegionDailyProduct(Base):
    """Per local day, region and product: the per-bay daily product sums added up, so that
    chain-, region-, product-, brand- and category-level figures read thousands of rows instead
    of millions. ``region`` is '' for stores without one (a key column cannot be null). Kept
    equal to the per-bay rollup by the same write path (a bay-day's old rows subtracted, its
    new ones added) and rebuilt with it."""

    __tablename__ = "analytics_daily_product_region"

    scan_date: Mapped[date] = mapped_column(Date, primary_key=True)
    region: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    week_start: Mapped[date] = mapped_column(Date)
    brand: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255))
    visible: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    gap: Mapped[int] = mapped_column(Integer)
    misplaced: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    seen: Mapped[int] = mapped_column(Integer)
    credited: Mapped[int] = mapped_column(Integer)


class FacingState(Base):
    """A planned facing's last verdicts: bit k of ``bits`` is the verdict k scans ago
    (1 failing: gap or misplaced), for "failing in N of its last M scans"."""

    __tablename__ = "analytics_facing_state"
    __table_args__ = (Index("ix_analytics_facing_state_fails", "fails"),)

    bay_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facing_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    product_key: Mapped[str | None] = mapped_column(String(128))
    bits: Mapped[int] = mapped_column(Integer)
    known: Mapped[int] = mapped_column(SmallInteger, doc="Verdicts in bits (at most 16)")
    fails: Mapped[int] = mapped_column(SmallInteger, doc="Failing verdicts in bits")
    last_scan_id: Mapped[str] = mapped_column(String(36))
    last_scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProblemEpisode(Base):
    """From the first scan showing a facing empty or wrong to the first showing it fixed."""

    __tablename__ = "analytics_problem_episode"
    __table_args__ = (
        Index("ix_analytics_problem_episode_bay_facing", "bay_id", "facing_id"),
        # time to fix reads problems by the day they were fixed (and those still open, closed_at
        # null): everything it needs is in the index, so PostgreSQL answers from it alone
        Index(
            "ix_analytics_problem_episode_fixed",
            "closed_at",
            "region",
            "store_id",
            "product_key",
            "opened_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(128))
    bay_id: Mapped[int] = mapped_column(Integer)
    facing_id: Mapped[str] = mapped_column(String(128))
    product_key: Mapped[str | None] = mapped_column(String(128))
    opened_scan_id: Mapped[str] = mapped_column(String(36))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_scan_id: Mapped[str | None] = mapped_column(String(36))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_scans: Mapped[int] = mapped_column(Integer)


class DailyFix(Base):
    """Per UTC day, region and fix-duration bucket: problems fixed that day and the sum and
    sum of squares of their hours to fix; bucket -1 counts the problems opened that day (so
    that still open = opened - fixed up to a day). Chain- and region-level time to fix read
    it (:mod:`shelfscan.analytics.fix_histogram`). ``region`` is '' for stores without one.
    Kept by the write path with the problem episodes (by difference when a bay's history is
    replayed) and rebuilt with them."""

    __tablename__ = "analytics_daily_fix"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    problems: Mapped[int] = mapped_column(Integer)
    hours_sum: Mapped[float] = mapped_column(Float)
    hours_sq: Mapped[float] = mapped_column(Float)


ANALYTICS_TABLES = (
    FactScan.__table__,
    FactFacing.__table__,
    DimProduct.__table__,
    DimDate.__table__,
    DailyBay.__table__,
    DailyProduct.__table__,
    FacingState.__table__,
    ProblemEpisode.__table__,
    RegionDailyProduct.__table__,
    DailyStore.__table__,
    DailyFix.__table__,
)
