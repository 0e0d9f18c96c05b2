"""A multipart/form-data reader for photo uploads: the body is collected, then split in place.

A phone sends one to eight photos of a few MB each. Parsing while the bytes arrive (the
python-multipart callback style) copies every 64 KB chunk twice in Python on the event loop;
under 50 concurrent 12 MP uploads that was most of the loop's time. Here the chunks are kept
as they arrive, joined once, and the parts are located with ``bytes.find`` (C speed): each
part's data is a zero-copy ``memoryview`` of the body.

The grammar is RFC 2046 §5.1.1 as used by RFC 7578: an optional preamble, then
``--boundary`` lines each followed by a part's header lines, an empty line and its data, and a
final ``--boundary--``. Anything else is a :class:`MultipartError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import parse_options_header

MAX_HEADER_BYTES = 16 * 1024
CRLF = b"\r\n"


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


class BodyTooLarge(Exception):
    """The body went over the byte or part limit."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: memoryview


def boundary_of(content_type_header: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None if it is not one."""
    content_type, options = parse_options_header(content_type_header)
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        return None
    return boundary


async def read_body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, refusing (``BodyTooLarge``) as soon as it passes ``limit`` bytes."""
    received: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"over {limit // 2**20} MB")
        received.append(chunk)
    return b"".join(received)


def split_parts(body: bytes, boundary: bytes, *, max_parts: int) -> list[Part]:
    """The parts of a multipart body, in order; their data are views into ``body``."""
    delimiter = b"--" + boundary
    view = memoryview(body)
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("the boundary from the Content-Type header never appears")
    if start > 0 and body[start - 2 : start] != CRLF:
        raise MultipartError("the first boundary does not start a line")
    parts: list[Part] = []
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts  # the closing delimiter; what follows is the epilogue
        position = _end_of_line(body, position)
        if len(parts) >= max_parts:
            raise BodyTooLarge(f"more than {max_parts} parts")
        header_end = body.find(CRLF + CRLF, position - 2, position + MAX_HEADER_BYTES)
        if header_end < 0:
            raise MultipartError(
                f"part {len(parts) + 1}: no end of its headers within {MAX_HEADER_BYTES} bytes"
            )
        headers = _parse_headers(body[position:header_end], len(parts) + 1)
        data_start = header_end + 4
        data_end = body.find(CRLF + delimiter, data_start)
        if data_end < 0:
            raise MultipartError(f"part {len(parts) + 1} is cut off: no boundary after its data")
        parts.append(_part(headers, view[data_start:data_end], len(parts) + 1))
        position = data_end + 2 + len(delimiter)


def _end_of_line(body: bytes, position: int) -> int:
    """Skip the transport padding and CRLF after a delimiter; the next line's start."""
    end = body.find(CRLF, position, position + 256)
    if end < 0 or body[position:end].strip(b" \t"):
        raise MultipartError("a boundary is not followed by the end of its line")
    return end + 2


def _parse_headers(block: bytes, number: int) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    if not block:
        return headers
    for line in block.split(CRLF):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise MultipartError(f"part {number}: malformed header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def _part(headers: dict[bytes, bytes], data: memoryview, number: int) -> Part:
    disposition_type, disposition = parse_options_header(headers.get(b"content-disposition", b""))
    if disposition_type != b"form-data":
        raise MultipartError(f"part {number} has no Content-Disposition: form-data header")
    filename = disposition.get(b"filename")
    part_type = headers.get(b"content-type")
    return Part(
        name=disposition.get(b"name", b"").decode("utf-8", "replace"),
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
        content_type=part_type.decode("latin-1") if part_type is not None else None,
        data=data,
    )
