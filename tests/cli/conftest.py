"""A clean command-line environment: no SHELFSCAN_* settings from the outside, no ``.env``,
data under the test's own folder, and settings read afresh for every invocation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfscan.settings import Settings, get_settings

SETTINGS_VARIABLES = {f"SHELFSCAN_{name.upper()}" for name in Settings.model_fields}


def clean_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """``os.environ`` without any SHELFSCAN_* setting, plus SHELFSCAN_DATA_DIR and ``variables``
    (for subprocesses)."""
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
    env["SHELFSCAN_DATA_DIR"] = str(data_dir)
    env.update(variables)
    return env


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SHELFSCAN_DATA_DIR for in-process invocations, in a working folder with no ``.env``."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(data))
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()
