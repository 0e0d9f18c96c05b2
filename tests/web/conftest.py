"""Chromium for the browser tests: Debian's package, installed on demand (CI starts bare)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SHELFSCAN_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _install_chromium() -> str | None:
    """Try ``apt-get install -y chromium``; the reason it failed, or None."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "apt-get not available"
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in ([*prefix, apt, "update"], [*prefix, apt, "install", "-y", "chromium"]):
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)}: {error}"
        if completed.returncode != 0:
            return f"{' '.join(command)} exited {completed.returncode}: {completed.stderr[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        reason = _install_chromium()
        if not CHROMIUM.exists():
            message = f"Chromium not found at {CHROMIUM} and could not be installed: {reason}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
