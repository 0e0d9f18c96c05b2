"""One grammar for the codes and ids that become keys, URL segments and file names.

An **identifier** (store codes, bay codes, planogram ids and keys) is 1 to 64 characters drawn
from ASCII letters, digits, ``-``, ``_`` and ``.``, and is neither ``.`` nor ``..``. So it needs
no escaping in a URL path or a file name, cannot climb out of a folder (``../../etc/passwd``)
or break out of a quoted string, and compares the same in every database collation we use.

Element ids inside a planogram (products, fixtures, positions, bays) are only labels within the
document and real files use spaces and slashes in them (``"Bay 1"``; the tabular importer names
fixtures ``bay/shelf``), so they follow a **lenient** rule: 1 to 256 characters, none of them a
control character (NUL, newlines, escapes).

Pure: no framework imports. ``identifier_problem`` says what is wrong (or None);
``validate_identifier`` raises ``InvalidIdentifier`` naming the field; ``slugify`` turns a
free-text name (a file name, a planogram name) into an identifier when one has to be derived.
"""

from __future__ import annotations

import re
import unicodedata

IDENTIFIER_MAX_LENGTH = 64
LABEL_MAX_LENGTH = 256
IDENTIFIER_CHARACTERS = "ASCII letters, digits, '-', '_' and '.'"

_IDENTIFIER = re.compile(r"[A-Za-z0-9._-]+")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")
_RUNS_OF_DASHES = re.compile(r"-{2,}")


class InvalidIdentifier(ValueError):
    """An identifier broke the grammar; ``field`` names where it came from."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _shown(value: str) -> str:
    """The value quoted with control characters escaped, cut short if long."""
    text = value if len(value) <= 80 else value[:77] + "..."
    return repr(text)


def _control_character(value: str) -> tuple[int, str] | None:
    for index, character in enumerate(value):
        if unicodedata.category(character) == "Cc":
            return index, character
    return None


def identifier_problem(value: object) -> str | None:
    """Why ``value`` is not an identifier (letters, digits, ``-_.``; 1..64), or None if it is."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > IDENTIFIER_MAX_LENGTH:
        return (
            f"is {len(value)} characters long; at most {IDENTIFIER_MAX_LENGTH} are allowed "
            f"({_shown(value)})"
        )
    if value in (".", ".."):
        return f"must not be {value!r}"
    if not _IDENTIFIER.fullmatch(value):
        bad = _NOT_ALLOWED.search(value)
        assert bad is not None
        return (
            f"{_shown(value)} contains {bad.group()!r} at character {bad.start() + 1}; "
            f"only {IDENTIFIER_CHARACTERS} are allowed"
        )
    return None


def label_problem(value: object) -> str | None:
    """Why ``value`` is not a lenient element id (1..256, no control characters), or None."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > LABEL_MAX_LENGTH:
        return f"is {len(value)} characters long; at most {LABEL_MAX_LENGTH} are allowed"
    found = _control_character(value)
    if found is not None:
        index, character = found
        return (
            f"{_shown(value)} contains the control character U+{ord(character):04X} at "
            f"character {index + 1}"
        )
    return None


def validate_identifier(value: object, *, field: str) -> str:
    """``value`` if it is an identifier; else ``InvalidIdentifier`` naming ``field``."""
    reason = identifier_problem(value)
    if reason is not None:
        raise InvalidIdentifier(field, value, reason)
    assert isinstance(value, str)
    return value


def slugify(text: str, *, fallback: str = "planogram") -> str:
    """An identifier made from free text: accents dropped, other characters become ``-``.

    ``"Café bay 2"`` → ``"Cafe-bay-2"``; text with nothing usable gives ``fallback``.
    """
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").strip()
    )
    slug = _RUNS_OF_DASHES.sub("-", _NOT_ALLOWED.sub("-", ascii_text)).strip("-.")
    slug = slug[:IDENTIFIER_MAX_LENGTH].rstrip("-.")
    return slug if slug and identifier_problem(slug) is None else fallback
