"""Files of scans that never reached the database are removed once old enough; files of
known scans, and of uploads still in flight, are never touched."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfscan.db.base import utcnow as now_utc
from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.jobs.sweeper import PeriodicSweep, sweep_orphans
from shelfscan.services.scans import photo_key, upload_key
from shelfscan.storage import LocalStorage

from .conftest import BAY, STORE, seed_store

HOUR = 3600.0


def _files(storage: LocalStorage, scan_id: str, age_s: float) -> list[str]:
    keys = [upload_key(STORE, scan_id, 0), photo_key(STORE, scan_id, 1)]
    for key in keys:
        storage.put(key, b"\xff\xd8\xffphoto", "image/jpeg")
        path = storage.root / key
        stamp = (now_utc() - timedelta(seconds=age_s)).timestamp()
        __import__("os").utime(path, (stamp, stamp))
    return keys


@pytest.fixture
def known_scan(database_url: str) -> str:
    seed_store(database_url)
    from shelfscan.services.scans import resolve_target

    scan_id = str(uuid.uuid4())
    with session_scope(database_url) as session:
        target, _ = resolve_target(session, STORE, BAY)
        session.add(
            Scan(
                id=scan_id,
                store_id=target.store_id,
                bay_id=target.bay_id,
                planogram_version_id=target.version_id,
                status="done",
                attempts=1,
                created_at=now_utc(),
                updated_at=now_utc(),
                deadline_at=now_utc(),
            )
        )
    return scan_id


def test_only_old_files_of_unknown_scans_go(
    tmp_path: Path, database_url: str, known_scan: str
) -> None:
    storage = LocalStorage(tmp_path / "files")
    kept_known = _files(storage, known_scan, age_s=10 * HOUR)
    orphan = str(uuid.uuid4())
    orphan_keys = _files(storage, orphan, age_s=2 * HOUR)
    in_flight = str(uuid.uuid4())
    in_flight_keys = _files(storage, in_flight, age_s=5)

    preview = sweep_orphans(database_url, storage, older_than_s=HOUR, dry_run=True)
    assert preview.orphan_scans == [orphan] and sorted(preview.deleted_keys) == sorted(orphan_keys)
    assert all(storage.exists(key) for key in orphan_keys)

    result = sweep_orphans(database_url, storage, older_than_s=HOUR)
    assert result.orphan_scans == [orphan]
    assert result.kept_recent == [in_flight]
    assert not any(storage.exists(key) for key in orphan_keys)
    assert all(storage.exists(key) for key in kept_known + in_flight_keys)


def test_the_reaper_sweeps_at_most_once_per_interval(
    tmp_path: Path, database_url: str, known_scan: str
) -> None:
    storage = LocalStorage(tmp_path / "files")
    orphan_keys = _files(storage, str(uuid.uuid4()), age_s=2 * HOUR)
    sweep = PeriodicSweep(database_url, storage, interval_s=HOUR)
    start = now_utc()
    first = sweep.maybe_run(start)
    assert first is not None and len(first.deleted_keys) == len(orphan_keys)
    late_orphan = _files(storage, str(uuid.uuid4()), age_s=2 * HOUR)
    assert sweep.maybe_run(start + timedelta(minutes=30)) is None  # not due yet
    assert all(storage.exists(key) for key in late_orphan)
    second = sweep.maybe_run(start + timedelta(minutes=61))
    assert second is not None and sorted(second.deleted_keys) == sorted(late_orphan)


def test_cli_sweep_orphans_reports_what_it_removes(
    tmp_path: Path, database_url: str, known_scan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelfscan.cli.main import app
    from shelfscan.settings import get_settings

    data_dir = tmp_path / "data"
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    from shelfscan.storage import get_storage

    storage = get_storage(get_settings())
    assert isinstance(storage, LocalStorage)
    orphan = str(uuid.uuid4())
    _files(storage, orphan, age_s=2 * HOUR)

    runner = CliRunner()
    dry = runner.invoke(app, ["db", "sweep-orphans", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove files of unknown scan {orphan}" in dry.output
    done = runner.invoke(app, ["db", "sweep-orphans"])
    assert done.exit_code == 0, done.output
    assert "removed 2 files of 1 unknown scans" in done.output
    assert storage.keys(f"stores/{STORE}/scans/{orphan}") == []
    get_settings.cache_clear()
