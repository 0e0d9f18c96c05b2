"""The identifier grammar: what it accepts, what it refuses and how it says so."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfscan.identifiers import (
    IDENTIFIER_MAX_LENGTH,
    InvalidIdentifier,
    identifier_problem,
    label_problem,
    slugify,
    validate_identifier,
)

IDENTIFIER_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


@pytest.mark.parametrize(
    "value", ["S001", "DEMO-001-crackers", "sample_planogram", "v1.2", "0001", "a" * 64, "..."]
)
def test_identifiers_that_are_accepted(value: str) -> None:
    assert identifier_problem(value) is None
    assert validate_identifier(value, field="code") == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "must not be empty"),
        (".", "must not be '.'"),
        ("..", "must not be '..'"),
        ("../../etc/passwd", "contains '/' at character 3"),
        ('say"hi', "contains '\"' at character 4"),
        ("it's", 'contains "\'" at character 3'),
        ("two words", "contains ' ' at character 4"),
        ("nul\x00byte", "contains '\\x00' at character 4"),
        ("tab\tbed", "contains '\\t' at character 4"),
        ("back\\slash", "contains '\\\\' at character 5"),
        ("Café", "contains 'é' at character 4"),
        ("a" * 65, "65 characters long; at most 64"),
        (17, "must be a string, got int"),
    ],
)
def test_identifiers_that_are_refused_say_why(value: object, expected: str) -> None:
    problem = identifier_problem(value)
    assert problem is not None and expected in problem
    with pytest.raises(InvalidIdentifier) as raised:
        validate_identifier(value, field="planogram.id")
    assert raised.value.field == "planogram.id"
    assert str(raised.value).startswith("planogram.id: ")
    assert expected in str(raised.value)


@given(st.text(alphabet=IDENTIFIER_ALPHABET, min_size=1, max_size=IDENTIFIER_MAX_LENGTH))
def test_every_string_over_the_alphabet_is_an_identifier_except_dot_and_dot_dot(
    value: str,
) -> None:
    assert (identifier_problem(value) is None) == (value not in (".", ".."))


@given(st.text(min_size=1, max_size=80))
def test_accepted_identifiers_never_hold_path_quote_or_control_characters(value: str) -> None:
    if identifier_problem(value) is None:
        assert not set(value) & set("/\\\"' \t\r\n\x00")
        assert value not in (".", "..")
        assert len(value) <= IDENTIFIER_MAX_LENGTH


@given(st.text(max_size=200))
def test_slugify_always_gives_an_identifier(text: str) -> None:
    assert identifier_problem(slugify(text)) is None


def test_slugify_keeps_what_it_can() -> None:
    assert slugify("Café bay 2") == "Cafe-bay-2"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("tiny") == "tiny"
    assert slugify("///", fallback="psa") == "psa"


@pytest.mark.parametrize("value", ["Bay 1", "1/2", "Crème, Salted", "0001", "p-01:2:3"])
def test_labels_allow_what_real_files_use(value: str) -> None:
    assert label_problem(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "must not be empty"),
        ("a\x00b", "control character U+0000 at character 2"),
        ("line\nbreak", "control character U+000A at character 5"),
        ("x" * 257, "257 characters long; at most 256"),
    ],
)
def test_labels_refuse_control_characters_and_huge_values(value: str, expected: str) -> None:
    problem = label_problem(value)
    assert problem is not None and expected in problem
