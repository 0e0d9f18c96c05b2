"""Bounded JSON decoding: hostile documents are refused with a location, never a crash."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfscan.safe_json import JsonProblemKind, JsonRejected, loads_bounded


def rejected(data: bytes | str, **options: Any) -> JsonRejected:
    with pytest.raises(JsonRejected) as raised:
        loads_bounded(data, **options)
    return raised.value


def test_ordinary_documents_decode_as_json_loads_does() -> None:
    text = '{"id": "p1", "x": 1.5, "n": 3, "tags": ["a", "[not a bracket"], "ok": true}'
    assert loads_bounded(text) == json.loads(text)
    assert loads_bounded(text.encode()) == json.loads(text)
    assert loads_bounded(b"\xef\xbb\xbf[1]") == [1]


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
def test_deep_nesting_is_refused_where_it_passes_the_limit(depth: int) -> None:
    error = rejected(b"[" * depth + b"]" * depth)
    assert error.kind is JsonProblemKind.DEPTH
    assert "64 levels" in error.problem
    assert error.location == "line 1, column 65"
    assert error.offset == 64


def test_depth_limit_is_inclusive_and_configurable() -> None:
    assert loads_bounded("[" * 64 + "]" * 64) is not None
    error = rejected('{"a": ' * 5 + "1" + "}" * 5, max_depth=4)
    assert error.kind is JsonProblemKind.DEPTH
    assert error.location == "line 1, column 25"


def test_brackets_inside_strings_do_not_count_towards_depth() -> None:
    text = json.dumps({"name": "[" * 500, "quote": 'say "[[[[" ' * 50})
    assert loads_bounded(text)["name"] == "[" * 500


def test_huge_integer_is_refused_with_its_line_and_column() -> None:
    error = rejected(b'{\n  "version": ' + b"9" * 5000 + b"\n}")
    assert error.kind is JsonProblemKind.NUMBER_TOO_LONG
    assert "5,000 digits" in error.problem and "at most 100" in error.problem
    assert error.location == "line 2, column 14"


def test_numbers_up_to_the_digit_limit_are_kept_exact() -> None:
    assert loads_bounded(str(2**63)) == 2**63
    assert loads_bounded("1" * 100) == int("1" * 100)
    assert rejected("1" * 101).kind is JsonProblemKind.NUMBER_TOO_LONG
    assert rejected("0." + "1" * 120).kind is JsonProblemKind.NUMBER_TOO_LONG


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999"])
def test_float_overflow_is_refused_not_turned_into_infinity(literal: str) -> None:
    error = rejected('{"x": "1e400", "w": ' + literal + "}")
    assert error.kind is JsonProblemKind.NOT_FINITE
    # The string "1e400" earlier in the document is not mistaken for the number.
    assert error.location == "line 1, column 21"
    assert literal in error.problem


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_constants_are_refused(constant: str) -> None:
    error = rejected(f"[1, {constant}]")
    assert error.kind is JsonProblemKind.NOT_FINITE
    assert error.location == "line 1, column 5"
    assert constant in error.problem


def test_invalid_json_and_bad_bytes_are_located() -> None:
    syntax = rejected('{"a": [1, 2}')
    assert syntax.kind is JsonProblemKind.SYNTAX
    assert syntax.location.startswith("line 1, column ")
    assert syntax.problem.startswith("invalid JSON:")
    encoding = rejected(b'{"a": "\xff"}')
    assert encoding.kind is JsonProblemKind.ENCODING
    assert encoding.location == "byte 7"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@given(JSON_VALUES)
def test_any_document_within_the_limits_round_trips(value: object) -> None:
    text = json.dumps(value)
    assert loads_bounded(text.encode()) == json.loads(text)


@given(JSON_VALUES, st.integers(min_value=1, max_value=6))
def test_depth_is_refused_exactly_when_it_passes_the_limit(value: object, limit: int) -> None:
    text = json.dumps(value)
    if _depth(value) > limit:
        assert rejected(text, max_depth=limit).kind is JsonProblemKind.DEPTH
    else:
        assert loads_bounded(text, max_depth=limit) == json.loads(text)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_json_rejected(data: bytes) -> None:
    try:
        value = loads_bounded(data)
    except JsonRejected as error:
        assert error.location and error.problem
    else:
        assert not (isinstance(value, float) and not math.isfinite(value))


def test_non_finite_numbers_can_be_kept_for_callers_that_locate_them_by_field() -> None:
    value = loads_bounded('{"x": NaN, "w": 1e400, "h": -Infinity}', allow_non_finite=True)
    assert math.isnan(value["x"]) and value["w"] == math.inf and value["h"] == -math.inf
    # Depth and digit limits still hold.
    assert rejected("[" * 100, allow_non_finite=True).kind is JsonProblemKind.DEPTH
