"""Canonical planogram JSON: exactly ``Planogram.model_dump(mode="json")``.

The file is plain pydantic output (snake_case keys), so ``Planogram.model_validate_json`` reads
it as well; these helpers add located errors and a stable, diff-friendly layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import Planogram
from shelfscan.safe_json import JsonRejected, loads_bounded


def _finite_or_text(value: Any) -> Any:
    """JSON has no NaN/Infinity; keep such values readable instead of emitting invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_text(v) for v in value]
    return value


def planogram_to_dict(planogram: Planogram) -> dict[str, Any]:
    return _finite_or_text(planogram.model_dump(mode="python"))


def dump_canonical(planogram: Planogram) -> str:
    """Canonical JSON text, indented, with a trailing newline."""
    return json.dumps(planogram_to_dict(planogram), indent=2, ensure_ascii=False) + "\n"


def location_of(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as ``positions[3].hfacings``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "planogram"


def problems_from_validation_error(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif "input" in item and item["type"] != "missing":
            message = f"{message}, got {item['input']!r}"
        problems.append(Problem(location_of(tuple(item["loc"])), message))
    return problems


def planogram_from_dict(document: Any) -> Planogram:
    """Validate a decoded canonical document, reporting every field problem at once."""
    if not isinstance(document, Mapping):
        raise PlanogramError([Problem("planogram", "expected a JSON object")])
    try:
        return Planogram.model_validate(dict(document))
    except ValidationError as error:
        raise PlanogramError(problems_from_validation_error(error)) from None


def load_canonical(text: str | bytes) -> Planogram:
    """Parse canonical JSON text; syntax errors, nesting too deep and numbers too long name
    the line and column. Non-finite numbers are kept for validation to name their field."""
    try:
        document = loads_bounded(text, allow_non_finite=True)
    except JsonRejected as error:
        raise PlanogramError([Problem(error.location, error.problem)]) from None
    return planogram_from_dict(document)
