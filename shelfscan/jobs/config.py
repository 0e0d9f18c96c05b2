"""Background-analysis settings that only the job runners read (``SHELFSCAN_*`` variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHELFSCAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    scan_analyzer: str | None = Field(
        default=None,
        description="'module:factory' returning the analyze callable; default: the pipeline",
    )
    scan_queue: str = Field(default="shelfscan", description="Celery queue for scans")
    scan_lease_s: float = Field(
        default=60.0, gt=0, description="A worker renews its lease every third of this"
    )
    scan_max_attempts: int = Field(default=3, ge=1)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    requeue_after_s: float = Field(
        default=120.0, gt=0, description="Re-send queued scans no worker picked up for this long"
    )
    orphan_sweep_after_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Stored files of scans the database does not know (an upload that died before its "
            "commit) are removed once this old; the reapers check this often"
        ),
    )
    broker_visibility_timeout_s: float = Field(
        default=900.0, gt=0, description="Redis redelivers an unacknowledged task after this"
    )
    upload_validation: Literal["fast", "full"] = Field(
        default="fast",
        description=(
            "fast: the upload answer waits only for structural checks (type, size, header, "
            "dimensions, cut-off end); the worker decodes, strips metadata and assesses quality "
            "before analysis. full: all of that before the 202 answer"
        ),
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Niceness added to analysis threads/processes so uploads stay responsive",
    )
