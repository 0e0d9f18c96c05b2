"""``shelfscan doctor``: one line per readiness check, exit 1 when any fails, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfscan.cli.main import app
from shelfscan.db.migrate import head_revision
from shelfscan.settings import get_settings

runner = CliRunner()


def doctor() -> tuple[dict[str, str], int]:
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    return lines, result.exit_code


@pytest.fixture
def replay(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    detections = tmp_path / "replay.json"
    detections.write_text('{"imageMetadata": {"width": 10, "height": 10}, "products": []}')
    monkeypatch.setenv("SHELFSCAN_DETECTOR_BACKEND", "replay")
    monkeypatch.setenv("SHELFSCAN_REPLAY_PATH", str(detections))
    return detections


def test_doctor_passes_on_a_fresh_setup_and_creates_nothing(replay: Path, data_dir: Path) -> None:
    lines, code = doctor()
    assert code == 0, lines
    assert set(lines) == {"settings", "database", "model"}
    assert all(" ok " in line for line in lines.values()), lines
    assert "does not exist yet" in lines["database"] and "serve" in lines["database"]
    assert str(replay) in lines["model"]
    assert not data_dir.exists(), "doctor must not create the database"


def test_doctor_reports_a_migrated_database_at_the_latest_revision(replay: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    lines, code = doctor()
    assert code == 0, lines
    assert f"revision {head_revision()} (latest)" in lines["database"]


def test_doctor_fails_on_an_unreachable_database(
    replay: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SHELFSCAN_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    lines, code = doctor()
    assert code == 1
    assert "FAILED" in lines["database"]
    assert "127.0.0.1:1" in lines["database"] and "SHELFSCAN_DATABASE_URL" in lines["database"]
    assert " ok " in lines["model"], "one failed check does not hide the others"


def test_doctor_fails_when_custom_vision_is_not_configured(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFSCAN_DETECTOR_BACKEND", "customvision")
    lines, code = doctor()
    assert code == 1
    assert "FAILED" in lines["model"]
    assert "SHELFSCAN_CUSTOMVISION_ENDPOINT" in lines["model"]


def test_doctor_fails_when_the_replay_file_is_missing(
    replay: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.json"
    monkeypatch.setenv("SHELFSCAN_REPLAY_PATH", str(missing))
    lines, code = doctor()
    assert code == 1
    assert "FAILED" in lines["model"] and str(missing) in lines["model"]
