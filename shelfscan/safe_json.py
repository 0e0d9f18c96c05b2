"""JSON decoding with limits, for documents that come from outside.

``json.loads`` alone turns hostile input into the wrong kind of failure: nesting deeper than the
interpreter's recursion limit raises ``RecursionError``; an integer of 5,000 digits raises a bare
``ValueError`` (Python's guard against quadratic int conversion); ``1e400`` quietly becomes
``inf`` and ``NaN``/``Infinity`` are accepted although JSON has no such values. ``loads_bounded``
refuses each of them — and invalid JSON — with one exception type, ``JsonRejected``, that says
what was wrong and where (line, column and byte offset).

Pure: standard library and numpy only.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import Any

import numpy as np

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_NUMBER_DIGITS = 100

# A JSON string literal (escapes included), matched whole so that brackets inside it are skipped.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', re.DOTALL)


class JsonProblemKind(StrEnum):
    ENCODING = "encoding"
    SYNTAX = "syntax"
    DEPTH = "depth"
    NUMBER_TOO_LONG = "number_too_long"
    NOT_FINITE = "not_finite"


class JsonRejected(ValueError):
    """The document is not acceptable JSON. ``location`` reads ``line 3, column 17``;
    ``offset`` is the character offset in the decoded text (byte offset for encoding errors)."""

    def __init__(self, kind: JsonProblemKind, location: str, problem: str, offset: int) -> None:
        self.kind = kind
        self.location = location
        self.problem = problem
        self.offset = offset
        super().__init__(f"{location}: {problem}")


def _location(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _rejected(kind: JsonProblemKind, text: str, offset: int, problem: str) -> JsonRejected:
    return JsonRejected(kind, _location(text, offset), problem, offset)


_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(code for code in range(256) if code not in _STRUCTURE)


def _structural_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth``; vectorised, no recursion."""
    if '\\"' in text:
        # Escaped quotes: let a regex skip whole string literals (slower, still linear).
        text = _STRING.sub('""', text)
    # Keep only quotes and brackets (one pass in C), then follow them with numpy.
    structure = text.encode("utf-8", "surrogatepass").translate(None, _NOT_STRUCTURE)
    codes = np.frombuffer(structure, dtype=np.uint8)
    # Without escaped quotes every quote opens or closes a string.
    outside_string = (np.cumsum(codes == ord('"')) % 2) == 0
    opens = ((codes == ord("[")) | (codes == ord("{"))) & outside_string
    closes = ((codes == ord("]")) | (codes == ord("}"))) & outside_string
    steps = opens.astype(np.int32) - closes.astype(np.int32)
    return steps.size > 0 and int(np.cumsum(steps).max()) > max_depth


def _deepest_offset(text: str, max_depth: int) -> int | None:
    """Where nesting first goes past ``max_depth``, or None. Iterative: no recursion."""
    # Cheap bound first: a document with few brackets cannot be deep.
    if text.count("[") + text.count("{") <= max_depth:
        return None
    if not _structural_depth_exceeds(text, max_depth):
        return None
    # Rare path: walk the original text to name the exact place.
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None  # an unterminated string fooled the fast check; json.loads will say so


def _number_offset(text: str, literal: str) -> int:
    """The first place ``literal`` appears as a number token (not inside a string)."""
    number = r"(?<![\w.+\-])" + re.escape(literal) + r"(?![\w.])"
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|' + number, text, re.DOTALL):
        if not match.group().startswith('"'):
            return match.start()
    return max(text.find(literal), 0)


class _NumberRefused(Exception):
    def __init__(self, kind: JsonProblemKind, literal: str, problem: str) -> None:
        self.kind = kind
        self.literal = literal
        self.problem = problem


def _digit_count(literal: str) -> int:
    return sum(character.isdigit() for character in literal)


def _too_many_digits(literal: str, limit: int) -> bool:
    # The length bounds the digit count, so most literals need no counting.
    return len(literal) > limit and _digit_count(literal) > limit


def loads_bounded(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_number_digits: int = DEFAULT_MAX_NUMBER_DIGITS,
    allow_non_finite: bool = False,
) -> Any:
    """Decode JSON from outside, refusing what would crash or mislead the caller.

    Refused, each as ``JsonRejected`` with a location: bytes that are not UTF-8; invalid JSON;
    arrays/objects nested deeper than ``max_depth``; numbers written with more than
    ``max_number_digits`` digits; numbers that overflow a float (``1e400``); and the
    non-standard constants ``NaN``, ``Infinity`` and ``-Infinity``. ``allow_non_finite`` keeps
    those last two (as ``inf``/``nan``) for callers whose own validation names the field that
    holds them, as planogram validation does.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.start + 1].hex()
            raise JsonRejected(
                JsonProblemKind.ENCODING,
                f"byte {error.start}",
                f"not UTF-8: byte 0x{bad} at offset {error.start} cannot be decoded",
                error.start,
            ) from None
    else:
        text = data

    deep = _deepest_offset(text, max_depth)
    if deep is not None:
        raise _rejected(
            JsonProblemKind.DEPTH,
            text,
            deep,
            f"arrays and objects are nested more than {max_depth} levels deep, the limit",
        )

    def parse_int(literal: str) -> int:
        if _too_many_digits(literal, max_number_digits):
            raise _NumberRefused(
                JsonProblemKind.NUMBER_TOO_LONG,
                literal,
                f"a number with {_digit_count(literal):,} digits; at most {max_number_digits} "
                "are allowed",
            )
        return int(literal)

    def parse_float(literal: str) -> float:
        if _too_many_digits(literal, max_number_digits):
            raise _NumberRefused(
                JsonProblemKind.NUMBER_TOO_LONG,
                literal,
                f"a number with {_digit_count(literal):,} digits; at most {max_number_digits} "
                "are allowed",
            )
        value = float(literal)
        if not math.isfinite(value) and not allow_non_finite:
            raise _NumberRefused(
                JsonProblemKind.NOT_FINITE,
                literal,
                f"the number {literal} is too large to represent (it would become {value})",
            )
        return value

    def parse_constant(literal: str) -> float:
        if allow_non_finite:
            return float(literal)
        raise _NumberRefused(
            JsonProblemKind.NOT_FINITE, literal, f"{literal} is not a JSON number; use a finite one"
        )

    try:
        return json.loads(
            text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant
        )
    except _NumberRefused as refused:
        shown = refused.literal if len(refused.literal) <= 40 else refused.literal[:37] + "..."
        offset = _number_offset(text, refused.literal)
        problem = refused.problem.replace(refused.literal, shown)
        raise _rejected(refused.kind, text, offset, problem) from None
    except json.JSONDecodeError as error:
        raise _rejected(
            JsonProblemKind.SYNTAX, text, error.pos, f"invalid JSON: {error.msg}"
        ) from None
    except RecursionError:  # pragma: no cover - the depth scan refuses such input first
        raise _rejected(
            JsonProblemKind.DEPTH, text, 0, "arrays and objects are nested too deeply"
        ) from None
