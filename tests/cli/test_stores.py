from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfscan.cli.main import app
from shelfscan.db.session import session_scope
from shelfscan.planogram.canonical import dump_canonical
from shelfscan.planogram_store import get_bay, get_store, planogram_version_for_bay
from shelfscan.settings import get_settings
from tests.store.test_planogram_store import small_planogram

runner = CliRunner()


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[str]:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()


def test_publish_and_assign_from_the_command_line(database: str, tmp_path: Path) -> None:
    source = tmp_path / "cereal.json"
    source.write_text(dump_canonical(small_planogram()))
    published = runner.invoke(app, ["planogram", "import", str(source), "--publish"])
    assert published.exit_code == 0, published.output
    assert "published cereal-1 version 1" in published.output
    for args in (
        ["store", "add", "S001", "Main Street", "--region", "North"],
        ["store", "add-bay", "S001", "A01", "--name", "Cereal"],
        ["store", "assign", "S001", "A01", "cereal-1", "--from", "2026-01-01"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["store", "list"])
    assert "A01\tCereal\tcereal-1 v1" in listing.output
    with session_scope(database) as session:
        bay = get_bay(session, get_store(session, "S001"), "A01")
        assert planogram_version_for_bay(session, bay.id, date(2026, 2, 1)).version == 1


def test_store_errors_exit_non_zero_with_the_reason(database: str) -> None:
    runner.invoke(app, ["store", "add", "S001", "Main Street"])
    again = runner.invoke(app, ["store", "add", "S001", "Other"])
    assert again.exit_code == 1 and "already exists" in again.output
    missing = runner.invoke(app, ["store", "assign", "S001", "B9", "x", "--from", "2026-01-01"])
    assert missing.exit_code == 1 and "bay 'B9' not found" in missing.output
    bad_date = runner.invoke(app, ["store", "assign", "S001", "B9", "x", "--from", "soon"])
    assert bad_date.exit_code == 2 and "soon" in bad_date.output


def test_publish_refuses_a_bad_file_and_stores_nothing(database: str, tmp_path: Path) -> None:
    bad = small_planogram()
    bad.products[0].w = 0
    source = tmp_path / "bad.json"
    source.write_text(dump_canonical(bad))
    result = runner.invoke(app, ["planogram", "import", str(source), "--publish"])
    assert result.exit_code == 1
    assert "products[0].w" in result.output
    from shelfscan.db.migrate import current_revision

    assert current_revision(database) is None, "a refused import must not even touch the database"


def test_planogram_list_names_the_ids_store_assign_takes(database: str, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["planogram", "list"])
    assert empty.exit_code == 0 and "no planograms published yet" in empty.output
    source = tmp_path / "cereal.json"
    source.write_text(dump_canonical(small_planogram()))
    for _ in range(2):  # an identical re-publish keeps version 1
        assert runner.invoke(app, ["planogram", "import", str(source), "--publish"]).exit_code == 0
    listing = runner.invoke(app, ["planogram", "list"])
    assert listing.exit_code == 0, listing.output
    assert listing.output.split()[:2] == ["cereal-1", "v1"]
    as_json = runner.invoke(app, ["planogram", "list", "--json"])
    rows = json.loads(as_json.stdout)
    assert [(row["id"], row["latest_version"]) for row in rows] == [("cereal-1", 1)]
