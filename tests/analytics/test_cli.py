"""``shelfscan synth chain``, ``analytics rebuild`` and ``report weekly`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfscan.cli.main import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(tmp_path / "data"))
    from shelfscan.settings import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_synth_rebuild_and_weekly_report(env: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["synth", "chain", "--stores", "5", "--bays", "2", "--weeks", "3"])
    assert made.exit_code == 0, made.output
    assert "5 stores, 10 bays" in made.output
    rebuilt = runner.invoke(app, ["analytics", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF"), (".html", b"<!doctype html>")):
        out = env / f"report{suffix}"
        result = runner.invoke(app, ["report", "weekly", "--region", "north", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(magic)
    html = (env / "report.html").read_text()
    assert "region north" in html and "Store league" in html
    refused = runner.invoke(app, ["report", "weekly", "--out", str(env / "report.docx")])
    assert refused.exit_code == 2 and "--out must end in" in refused.output
