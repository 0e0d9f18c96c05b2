"""The orphan sweeper: stored files of scans the database does not know.

An upload stores its photos before it commits its scan, so that a committed scan always has
its photos. A process that dies between the two (or while deleting the files of a rejected
upload) leaves files that no scan row points to. They are found by listing the scan folders
and removed once their newest file is older than ``older_than_s`` (an upload in flight is
only seconds old). Runs from the reaper loops every ``orphan_sweep_after_s`` and from
``shelfscan db sweep-orphans``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from shelfscan.db.base import utcnow
from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.storage import ObjectNotFound, Storage

log = logging.getLogger(__name__)

SCANS_ROOT = "stores/"
_ID_BATCH = 500


@dataclass
class SweepResult:
    orphan_scans: list[str] = field(default_factory=list)  # scan ids whose files were removed
    deleted_keys: list[str] = field(default_factory=list)
    kept_recent: list[str] = field(default_factory=list)  # orphans too young to remove yet


def _scan_folders(storage: Storage) -> dict[str, list[str]]:
    """Keys grouped by scan id, from the ``stores/<store>/scans/<scan id>/…`` layout."""
    folders: dict[str, list[str]] = defaultdict(list)
    for key in storage.keys(SCANS_ROOT):
        parts = key.split("/")
        if len(parts) >= 5 and parts[2] == "scans":
            folders[parts[3]].append(key)
    return folders


def _known_scan_ids(database_url: str, scan_ids: list[str]) -> set[str]:
    known: set[str] = set()
    with session_scope(database_url) as session:
        for start in range(0, len(scan_ids), _ID_BATCH):
            batch = scan_ids[start : start + _ID_BATCH]
            known.update(session.scalars(select(Scan.id).where(Scan.id.in_(batch))))
    return known


def sweep_orphans(
    database_url: str,
    storage: Storage,
    *,
    older_than_s: float,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepResult:
    now = now or utcnow()
    folders = _scan_folders(storage)
    known = _known_scan_ids(database_url, sorted(folders))
    result = SweepResult()
    for scan_id, keys in sorted(folders.items()):
        if scan_id in known:
            continue
        try:
            newest = max(storage.modified(key) for key in keys)
        except ObjectNotFound:  # deleted meanwhile: somebody else is cleaning up
            continue
        if now - newest < timedelta(seconds=older_than_s):
            result.kept_recent.append(scan_id)
            continue
        result.orphan_scans.append(scan_id)
        if not dry_run:
            for key in keys:
                storage.delete(key)
        result.deleted_keys.extend(keys)
    if result.orphan_scans:
        log.info(
            "orphaned scan files %s",
            "found" if dry_run else "removed",
            extra={"scans": len(result.orphan_scans), "files": len(result.deleted_keys)},
        )
    return result


class PeriodicSweep:
    """Runs :func:`sweep_orphans` from a reaper loop at most once per ``interval_s``."""

    def __init__(self, database_url: str, storage: Storage, interval_s: float) -> None:
        self.database_url, self.storage, self.interval_s = database_url, storage, interval_s
        self._last: datetime | None = None

    def maybe_run(self, now: datetime | None = None) -> SweepResult | None:
        now = now or utcnow()
        if self._last is not None and now - self._last < timedelta(seconds=self.interval_s):
            return None
        self._last = now
        try:
            return sweep_orphans(
                self.database_url, self.storage, older_than_s=self.interval_s, now=now
            )
        except Exception:  # storage or database briefly away: the next round tries again
            log.warning("orphan sweep failed", exc_info=True)
            return None
