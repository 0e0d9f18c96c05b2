"""The storage interface: named blobs (photos, annotated images, evidence crops)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol, runtime_checkable

# Keys are relative, slash-separated, and never climb out of their root.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~\-]*(/[A-Za-z0-9][A-Za-z0-9._~\-]*)*$")


class StorageError(RuntimeError):
    """The storage backend failed (disk full, bucket unreachable, access denied)."""


class ObjectNotFound(KeyError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no stored object {self.key!r}"


class InvalidKey(ValueError):
    pass


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidKey(f"storage key {key!r}: use letters, digits, '.', '_', '~', '-' and '/'")
    return key


@runtime_checkable
class Storage(Protocol):
    """Implementations are safe to use from several threads at once."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` atomically: readers see the old or the new bytes."""

    def get(self, key: str) -> bytes:
        """Raises :class:`ObjectNotFound` when nothing is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error."""

    def exists(self, key: str) -> bool: ...

    def url(self, key: str, *, expires_s: int = 3600) -> str:
        """Where a client can fetch the object directly (a file path or a presigned URL)."""
        ...

    def keys(self, prefix: str = "") -> list[str]:
        """Every stored key under ``prefix``, sorted."""
        ...

    def modified(self, key: str) -> datetime:
        """When the object was last written (timezone-aware UTC); raises
        :class:`ObjectNotFound` when nothing is stored under ``key``."""
        ...
