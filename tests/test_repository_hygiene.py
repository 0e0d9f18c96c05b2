"""Licence and Docker build context: what ships, and under which terms."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_licence_is_the_agpl_that_ultralytics_requires() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "AGPL-3.0-or-later"


def _dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, line.lstrip("!").rstrip("/")))
    return rules


def _excluded(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern matching the path (or a folder above it) wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for keep, pattern in rules:
        for candidate in candidates:
            if fnmatchcase(candidate, pattern) or (
                pattern.startswith("**/") and fnmatchcase(candidate, pattern[3:])
            ):
                excluded = not keep
                break
    return excluded


def test_build_context_leaves_out_local_state_but_keeps_what_the_image_copies() -> None:
    rules = _dockerignore_rules()
    for local in (".venv", ".git", ".env", "var/shelfscan.db", "out/demo", "tests/artifacts/x"):
        assert _excluded(local, rules), f"{local} would be sent as build context"
    assert _excluded("runs/train/weights/best.pt", rules)
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M)
        for source in [word for word in line.split() if not word.startswith("--")][:-1]
    ]
    assert "shelfscan" in copied and "planograms" in copied
    for source in copied:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert not _excluded(source, rules), f".dockerignore drops {source}, which is copied"
    for model in (ROOT / "planograms" / "models").rglob("*"):
        relative = model.relative_to(ROOT).as_posix()
        assert not _excluded(relative, rules), f"shipped model file {relative} left out"
