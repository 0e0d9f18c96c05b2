"""What importers share: the imported model with its locator, and strict text decoding."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import Planogram
from shelfscan.planogram.validation import CANONICAL_LOCATOR, Locator


@dataclass(frozen=True)
class Imported:
    """A planogram read from a file, and how to name its elements in that file."""

    planogram: Planogram
    locate: Locator = CANONICAL_LOCATOR
    format: str = "canonical"


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_text(data: bytes, *, encodings: tuple[str, ...], what: str) -> str:
    """Decode ``data`` with the first of ``encodings`` that fits, else say where it breaks.

    UTF-16/32 files (a byte-order mark or NUL bytes) are refused with a clear message rather
    than decoded into garbage; a UTF-8 byte-order mark is accepted and dropped.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise PlanogramError([Problem("file", f"{what} is UTF-32 encoded; save it as UTF-8")])
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PlanogramError([Problem("file", f"{what} is UTF-16 encoded; save it as UTF-8")])
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise PlanogramError(
            [
                Problem(
                    f"line {_line_of(data, offset)}",
                    f"{what} contains NUL bytes (byte {offset}): a binary file or UTF-16 "
                    "text without a byte-order mark; save it as UTF-8",
                )
            ]
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    # The last encoding is the format's customary one, so its failure is the one to report.
    last_error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as error:
            last_error = error
    assert last_error is not None
    bad = data[last_error.start : last_error.start + 1]
    raise PlanogramError(
        [
            Problem(
                f"line {_line_of(data, last_error.start)}",
                f"{what} is not valid {' or '.join(encodings)}: byte 0x{bad.hex()} at offset "
                f"{last_error.start} cannot be decoded as {encodings[-1]}",
            )
        ]
    )
