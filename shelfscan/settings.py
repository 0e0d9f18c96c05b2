"""One typed settings object, read from ``SHELFSCAN_*`` environment variables (and ``.env``).

Defaults work offline on one machine: SQLite and local files under ``data_dir``, in-process jobs.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent
# Where alembic/ and planograms/ live: the checkout, or the image's /app for an installed wheel.
PROJECT_ROOT = Path(os.environ.get("SHELFSCAN_PROJECT_ROOT", PACKAGE_ROOT.parent)).resolve()
PLANOGRAM_LIBRARY = PROJECT_ROOT / "planograms"
# Microsoft's Azure sample (photo, planogram, detections, packshots), used by benchmarks, tests
# and the library's converted copy; it lives beside the checkout, not in it.
AZURE_SAMPLE_DIR = Path(
    os.environ.get("SHELFSCAN_AZURE_SAMPLE_DIR", PROJECT_ROOT.parent / "shared/data/azure-sample")
).resolve()


def default_data_dir() -> Path:
    """A data directory that does not depend on where the command runs: a relative ``var``
    silently started an empty database whenever shelfscan ran from another directory."""
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "var"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "shelfscan"


class DetectorBackend(StrEnum):
    YOLO = "yolo"
    CUSTOMVISION = "customvision"
    REPLAY = "replay"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHELFSCAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description=(
            "Root for the SQLite file and files; default: var/ in the checkout (or "
            "$XDG_DATA_HOME/shelfscan for an installed package), whatever the working directory"
        ),
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///{data_dir}/shelfscan.db"
    )
    migrate_on_start: bool = Field(default=True, description="Run Alembic upgrade on serve")

    storage_backend: StorageBackend = StorageBackend.LOCAL
    storage_dir: Path | None = Field(default=None, description="Default {data_dir}/files")
    storage_spare_files: int = Field(
        default=64,
        ge=0,
        le=4096,
        description=(
            "Local storage: files of 4 MiB written beforehand (in {storage_dir}/.spare) that "
            "photos are written into, so that an upload does not wait for the filesystem to "
            "allocate a new file's blocks; costs count × 4 MiB of disk; 0: off"
        ),
    )
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    packshot_dir: Path | None = Field(
        default=None, description="Product packshots (by name, id or GTIN) for planogram renders"
    )

    detector_backend: DetectorBackend = DetectorBackend.YOLO
    model_path: Path = Field(
        default=PLANOGRAM_LIBRARY / "models" / "demo-store_openvino_model",
        description="YOLO weights (.pt), exported .onnx or an OpenVINO folder (default: the "
        "demo model's OpenVINO export, the fastest accurate path on CPU)",
    )
    label_map_path: Path | None = Field(
        default=None, description="Model class name -> product id/name/GTIN mapping (JSON)"
    )
    confidence_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    max_detections: int = Field(default=1000, ge=1)
    image_size: int | None = Field(
        default=None, ge=32, le=4096, description="Default: the size the model was trained at"
    )
    device: str = Field(default="auto", description="auto (GPU when present), cpu, cuda:0 …")
    slice_tile_size: int = Field(
        default=0, ge=0, description="Sliced inference tile size in px; 0 = one pass"
    )
    slice_overlap: float = Field(default=0.25, ge=0.0, lt=1.0, description="Tile overlap share")
    replay_path: Path | None = Field(default=None, description="Detections JSON for replay")

    customvision_endpoint: str | None = None
    customvision_prediction_key: SecretStr | None = None
    customvision_project_id: str | None = None
    customvision_iteration: str | None = None
    customvision_timeout_s: float = 30.0
    customvision_max_retries: int = 5

    broker_url: str | None = Field(
        default=None, description="Celery broker (redis://…); unset = in-process worker"
    )
    worker_concurrency: int = Field(default=2, ge=1)
    worker_mode: Literal["process", "thread"] = Field(
        default="process",
        description=(
            "Without a broker: analyse scans in one child process of the server (process), "
            "or in threads of the server process, sharing its GIL with the uploads (thread)"
        ),
    )
    scan_deadline_s: float = Field(default=300.0, gt=0)

    # Background analysis (the job runners) and upload validation (the upload route).
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
    upload_accept_slots: int = Field(
        default=4,
        ge=1,
        le=64,
        description=(
            "Uploads one web process accepts at once (checks, storing the photo, the database "
            "insert); the others wait, idle, while their bodies keep arriving. More suits slow "
            "(remote) photo storage; many at once on few cores only fight over the GIL"
        ),
    )
    upload_priority_s: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description=(
            "One-machine runners: a scan thread about to start a scan, or to write its "
            "pictures or its result, waits while the web process is receiving uploads, at "
            "most this long each time (0: never waits)"
        ),
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Niceness added to analysis threads/processes so uploads stay responsive",
    )

    # Access control (docs/security.md).
    session_ttl_s: float = Field(default=12 * 3600, gt=0, description="Web session lifetime")
    cookie_secure: bool = Field(
        default=True,
        description="Session cookie only over HTTPS; false only for plain-http development",
    )
    auth_require_totp_for: str = Field(
        default="",
        description="Comma-separated roles that must use a TOTP second factor, e.g. "
        "'admin,hq_analyst'",
    )
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_lockout_s: float = Field(
        default=30.0, gt=0, description="First lock-out; doubles per further failure"
    )
    login_lockout_max_s: float = Field(default=900.0, gt=0)
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL")
    oidc_client_id: str | None = None
    oidc_audience: str | None = Field(default=None, description="Default: the client id")
    oidc_role_claim: str = "roles"
    oidc_scope_claim: str = "shelfscan_scope"
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS; empty = CORS off"
    )

    log_level: str = "INFO"
    log_json: bool = True

    # Request limits (docs/limits.md): body sizes per route, heavy work's pool and budget,
    # planogram sizes, the HTTP server's header size and timeouts.
    max_json_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="JSON bodies of stores, bays, assignments …"
    )
    max_planogram_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="A planogram file (import, validate)"
    )
    max_match_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="The Azure :match body"
    )
    max_image_body_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="The Azure product recognition image"
    )
    max_planogram_positions: int = Field(default=20_000, ge=1)
    max_planogram_facings: int = Field(default=100_000, ge=1)
    heavy_mode: Literal["process", "thread"] = Field(
        default="process",
        description="Heavy work in worker processes (the event loop keeps the GIL) or threads",
    )
    heavy_workers: int = Field(
        default=2, ge=1, description="Workers for planogram import/validation and matching"
    )
    heavy_queue: int = Field(
        default=8, ge=0, description="Heavy requests waiting for a worker; more answer 503"
    )
    request_time_budget_s: float = Field(
        default=30.0, gt=0, description="A heavy request over this answers 503"
    )
    http_max_header_bytes: int = Field(
        default=32 * 1024, ge=4096, description="Largest request head `shelfscan serve` takes"
    )
    http_keep_alive_s: float = Field(default=5.0, gt=0, description="Idle keep-alive timeout")
    load_model_on_start: bool = Field(
        default=True, description="Load the detection model in the background at start"
    )
    # Scheduled store audits (shelfscan.audits)
    audit_scheduler: bool = Field(
        default=True, description="Run the audit ticker and webhook sender inside serve"
    )
    audit_tick_interval_s: float = Field(default=60.0, gt=0, description="Audit ticker period")
    audit_due_soon_minutes: int = Field(
        default=60, ge=0, description="Send occurrence.due_soon this long before the due time"
    )
    audit_task_due_hours: float = Field(
        default=24.0, gt=0, description="Corrective task due time after the scan that found it"
    )
    audit_out_of_stock_due_hours: float = Field(
        default=4.0, gt=0, description="Due time of a task for a product out of stock"
    )
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhook targets on loopback or private addresses"
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Webhook request timeout")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'shelfscan.db').as_posix()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"


@lru_cache
def get_settings() -> Settings:
    return Settings()
