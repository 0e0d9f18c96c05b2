"""Files in a local folder: the default, for one machine or a shared volume."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from shelfscan.storage.base import ObjectNotFound, StorageError, check_key
from shelfscan.storage.spares import FOLDER as SPARE_FOLDER
from shelfscan.storage.spares import SpareFiles, write_all


class LocalStorage:
    def __init__(self, root: Path, *, spare_files: int = 0) -> None:
        self.root = Path(root).resolve()
        # Files written beforehand that photos are written into (shelfscan.storage.spares).
        self.spares = SpareFiles(self.root, spare_files)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write aside, flush to disk, then rename: a crash never leaves half a photo.
            spare = self.spares.claim(path.parent, len(data))
            temporary = str(spare) if spare is not None else None
            try:
                if spare is not None:
                    descriptor = os.open(spare, os.O_WRONLY)
                else:
                    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
                try:
                    write_all(descriptor, data)
                    if spare is not None:
                        os.ftruncate(descriptor, len(data))
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
                os.replace(temporary, path)
            except BaseException:
                if temporary is not None:
                    Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error}") from error

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        except OSError as error:
            raise StorageError(f"cannot read {path}: {error}") from error

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def url(self, key: str, *, expires_s: int = 3600) -> str:
        return self._path(key).as_uri()

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.exists():
            return []
        found = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file()
            and not path.name.startswith(".incoming-")
            and path.relative_to(self.root).parts[0] != SPARE_FOLDER
        )
        return sorted(key for key in found if key.startswith(prefix))

    def modified(self, key: str) -> datetime:
        try:
            return datetime.fromtimestamp(self._path(key).stat().st_mtime, UTC)
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
