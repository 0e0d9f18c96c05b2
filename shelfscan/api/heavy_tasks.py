"""The CPU-heavy work of requests, as functions a worker process can run.

Everything here takes plain values (bytes, strings, the frozen :class:`PlanogramLimits`) and
returns plain, JSON-ready values (or encoded JSON), so that little crosses a process boundary
and nothing here needs the web framework or the database: a worker imports only the pure core.
Refusals cannot cross a process boundary as exceptions (``ShelfscanError`` does not pickle), so
:func:`call` turns them into an :class:`Outcome` and :func:`raise_for` raises them again in the
server. The same wrapper runs in the in-thread mode, so both modes answer alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shelfscan.compliance.azure_compat import matching_result_per_position
from shelfscan.compliance.engine import match_planogram
from shelfscan.detections import Detections, DetectionsFormatError
from shelfscan.planogram import loader
from shelfscan.planogram.canonical import planogram_to_dict
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.limits import DEFAULT_LIMITS, PlanogramLimits, PlanogramTooLarge
from shelfscan.planogram.loader import load_planogram_document
from shelfscan.planogram.publication import PreparedPlanogram, prepare_publication
from shelfscan.safe_json import JsonRejected, loads_bounded
from shelfscan.services.errors import ShelfscanError


@dataclass(frozen=True)
class Outcome:
    """What a task gave: its value, or the refusal it raised (as plain data)."""

    value: Any = None
    # ("shelfscan", code, message, field, http_status, inner_code, details, header_code)
    # or ("planogram", too_large, [(location, problem), ...])
    refusal: tuple[Any, ...] | None = None


def call(work: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Outcome:
    """Run ``work`` and wrap what it gave or the refusal it raised (other errors propagate:
    they are the server's fault and answer 500 as anywhere else)."""
    try:
        return Outcome(value=work(*args, **kwargs))
    except PlanogramError as error:
        problems = [(problem.location, problem.problem) for problem in error.problems]
        return Outcome(refusal=("planogram", isinstance(error, PlanogramTooLarge), problems))
    except ShelfscanError as error:
        return Outcome(
            refusal=(
                "shelfscan",
                error.code,
                error.message,
                error.field,
                error.http_status,
                error.inner_code,
                error.details,
                error.header_code,
            )
        )


def raise_for(outcome: Outcome) -> Any:
    """The task's value, or its refusal raised again as the exception it was."""
    if outcome.refusal is None:
        return outcome.value
    if outcome.refusal[0] == "planogram":
        _, too_large, pairs = outcome.refusal
        problems = [Problem(location, problem) for location, problem in pairs]
        raise (PlanogramTooLarge if too_large else PlanogramError)(problems)
    _, code, message, field, status, inner_code, details, header_code = outcome.refusal
    raise ShelfscanError(
        code,
        message,
        field=field,
        http_status=status,
        inner_code=inner_code,
        details=details,
        header_code=header_code,
    )


def ignore_interrupts() -> None:
    """A worker's initializer: Ctrl-C in a terminal reaches the whole process group, and the
    server stops its workers itself (a worker interrupted meanwhile printed a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def warm() -> int:
    """Run once in every new worker: the imports above are done; touch the lazily built parts
    of the core too, so that the first request does not pay for them."""
    with contextlib.suppress(ShelfscanError, PlanogramError):
        match_body(
            json.dumps({"detectedProducts": _EMPTY_DETECTIONS, "planogram": _TINY}).encode(),
            DEFAULT_LIMITS,
        )
    return os.getpid()


# --- planogram import and validation ----------------------------------------------------------


def read_planogram(
    data: bytes,
    *,
    format: str | None,
    filename: str | None,
    planogram_id: str | None,
    limits: PlanogramLimits,
    want_document: bool,
) -> tuple[str, dict[str, Any] | None]:
    """Read and validate an uploaded planogram: its format and (when ``want_document``) its
    canonical document, the same dict a stored version holds."""
    imported = loader.load_planogram_bytes(
        data, format=format, filename=filename, planogram_id=planogram_id, limits=limits
    )
    return imported.format, planogram_to_dict(imported.planogram) if want_document else None


def prepare_planogram(
    data: bytes,
    *,
    format: str | None,
    filename: str | None,
    planogram_id: str | None,
    limits: PlanogramLimits,
) -> tuple[str, PreparedPlanogram]:
    """Read and validate an uploaded planogram and prepare it for publishing (canonical dump,
    hash, encoded document, counts): the server then does only the database work
    (``shelfscan.services.stores.publish_prepared``)."""
    imported = loader.load_planogram_bytes(
        data, format=format, filename=filename, planogram_id=planogram_id, limits=limits
    )
    return imported.format, prepare_publication(imported.planogram)


# --- Azure-compatible matching ----------------------------------------------------------------


def azure_invalid(
    code: str,
    message: str,
    *,
    target: str | None = None,
    details: list[dict[str, Any]] | None = None,
    inner_code: str | None = None,
) -> ShelfscanError:
    """A 400 in Azure's terms; this API's ``x-ms-error-code`` is the top-level code."""
    return ShelfscanError(
        code,
        message,
        field=target,
        details=details,
        inner_code=inner_code,
        header_code=code,
        http_status=400,
    )


def _split_location(text: str) -> tuple[str | None, str]:
    location, sep, problem = text.partition(": ")
    return (location, problem) if sep else (None, text)


def match_body(raw: bytes, limits: PlanogramLimits) -> bytes:
    """Decode (bounded), validate and match a ``:match`` body; the answer as encoded JSON
    (encoded here: 20,000 positions' answer would otherwise be encoded by the server)."""
    try:
        # Non-finite numbers are kept so that validation names the field that holds them.
        body = loads_bounded(
            raw,
            max_depth=limits.max_json_depth,
            max_number_digits=limits.max_number_digits,
            allow_non_finite=True,
        )
    except JsonRejected as error:
        raise azure_invalid(
            "InvalidRequest",
            f"The request body is not valid JSON at {error.location}: {error.problem}",
            target="body",
        ) from None
    if not isinstance(body, dict):
        raise azure_invalid("InvalidRequest", "The request body must be a JSON object")
    missing = [key for key in ("detectedProducts", "planogram") if body.get(key) is None]
    if missing:
        raise azure_invalid(
            "InvalidRequest",
            f"The request body lacks {' and '.join(missing)}",
            target=missing[0],
            details=[
                {"code": "InvalidArgument", "message": "required", "target": key} for key in missing
            ],
        )
    try:
        detections = Detections.from_azure_result(body["detectedProducts"])
    except DetectionsFormatError as error:
        location, problem = _split_location(str(error))
        target = "detectedProducts" + (f".{location}" if location else "")
        raise azure_invalid(
            "InvalidRequest",
            f"detectedProducts is invalid: {error}",
            target=target,
            details=[{"code": "InvalidArgument", "message": problem, "target": target}],
            inner_code="InvalidDetectedProducts",
        ) from error
    try:
        planogram = load_planogram_document(body["planogram"], limits=limits)
        report = match_planogram(planogram, detections)
    except PlanogramError as error:
        details = [
            {
                "code": "InvalidArgument",
                "message": problem.problem,
                "target": f"planogram.{problem.location}",
            }
            for problem in error.problems
        ]
        refusal = azure_invalid(
            "InvalidRequest",
            f"planogram is invalid: {error}",
            target=details[0]["target"] if details else "planogram",
            details=details,
            inner_code="InvalidPlanogram",
        )
        if isinstance(error, PlanogramTooLarge):  # a size limit, named in the message
            refusal.code = refusal.header_code = "PayloadTooLarge"
            refusal.inner_code = "PlanogramTooLarge"
            refusal.http_status = 413  # type: ignore[misc]
        raise refusal from error
    # As Starlette's JSONResponse renders it.
    return json.dumps(
        matching_result_per_position(report),
        ensure_ascii=False,
        allow_nan=False,
        indent=None,
        separators=(",", ":"),
    ).encode("utf-8")


_EMPTY_DETECTIONS = {"imageMetadata": {"width": 100, "height": 60}, "products": []}
_TINY = {
    "id": "warm",
    "unit": "cm",
    "width": 20.0,
    "height": 30.0,
    "fixtures": [{"id": "S0", "x": 0, "y": 28, "w": 20, "h": 2}],
    "products": [{"id": "p1", "name": "Box", "w": 10, "h": 25}],
    "positions": [
        {"id": f"0-{i}", "product_id": "p1", "fixture_id": "S0", "x": i * 10.0, "y": 3}
        for i in range(2)
    ],
}
