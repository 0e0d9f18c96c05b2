"""One typed settings object, read from ``SHELFSCAN_*`` environment variables (and ``.env``).

Defaults work offline on one machine: SQLite and local files under ``data_dir``, in-process jobs.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

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

    data_dir: Path = Field(default=Path("var"), description="Root for the SQLite file and files")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///{data_dir}/shelfscan.db"
    )
    migrate_on_start: bool = Field(default=True, description="Run Alembic upgrade on serve")

    storage_backend: StorageBackend = StorageBackend.LOCAL
    storage_dir: Path | None = Field(default=None, description="Default {data_dir}/files")
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
    scan_deadline_s: float = Field(default=300.0, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'shelfscan.db').as_posix()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "files"


@lru_cache
def get_settings() -> Settings:
    return Settings()
