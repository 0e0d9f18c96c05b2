from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shelfscan.planogram.errors import Problem
from shelfscan.planogram.loader import read_planogram
from shelfscan.settings import AZURE_SAMPLE_DIR as AZURE_SAMPLE

FIXTURES = Path(__file__).parent / "fixtures"
AZURE_SAMPLE_DIR = AZURE_SAMPLE
AZURE_SAMPLE = AZURE_SAMPLE_DIR / "sample_planogram.json"
AZURE_CATALOG = AZURE_SAMPLE_DIR / "catalog"
REPO = Path(__file__).resolve().parents[2]

needs_azure_sample = pytest.mark.skipif(
    not AZURE_SAMPLE.exists(), reason="the Azure sample data is not available"
)


def tiny_azure() -> dict[str, Any]:
    return json.loads((FIXTURES / "tiny_azure.json").read_text())


def problems_of(data: bytes | str, filename: str, **options: Any) -> list[Problem]:
    """Every problem the loader reports for a file with this content and name."""
    raw = data.encode() if isinstance(data, str) else data
    return read_planogram(raw, filename=filename, **options).problems


def as_text(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]
