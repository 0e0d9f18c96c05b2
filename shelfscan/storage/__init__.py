"""Where photos and derived images live: a local folder by default, S3 when configured."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from shelfscan.storage.base import InvalidKey, ObjectNotFound, Storage, StorageError, check_key
from shelfscan.storage.local import LocalStorage

if TYPE_CHECKING:
    from shelfscan.settings import Settings

__all__ = [
    "InvalidKey",
    "LocalStorage",
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "check_key",
    "get_storage",
]


def get_storage(settings: Settings) -> Storage:
    """The configured backend; one client per configuration and process."""
    from shelfscan.settings import StorageBackend

    if settings.storage_backend == StorageBackend.S3:
        if not settings.s3_bucket:
            raise StorageError("SHELFSCAN_S3_BUCKET must be set when SHELFSCAN_STORAGE_BACKEND=s3")
        secret = settings.s3_secret_access_key
        return _s3(
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            secret.get_secret_value() if secret else None,
        )
    return _local(str(settings.resolved_storage_dir), settings.storage_spare_files)


@lru_cache(maxsize=8)
def _local(root: str, spare_files: int = 0) -> Storage:
    return LocalStorage(Path(root), spare_files=spare_files)


@lru_cache(maxsize=8)
def _s3(
    bucket: str, endpoint: str | None, region: str, key_id: str | None, secret: str | None
) -> Storage:
    from shelfscan.storage.s3 import S3Storage

    return S3Storage(
        bucket,
        endpoint_url=endpoint,
        region=region,
        access_key_id=key_id,
        secret_access_key=secret,
    )
