"""A multipart/form-data reader for photo uploads: the body is collected, then split.

A phone sends one to eight photos of a few MB each. Parsing while the bytes arrive (the
python-multipart callback style) copies every 64 KB chunk twice in Python on the event loop;
under 50 concurrent 12 MP uploads that was most of the loop's time. Here the event loop only
keeps the chunks as they arrive (:func:`read_body`); :func:`split_parts` then finds the parts
with ``bytes.find`` (C speed) over the chunks, where no delimiter is split between two of them
(a look at the few bytes around each seam), and copies each part's data out once, straight
from the chunks. The upload route splits in its accepting thread, so a body is joined nowhere:
joining first (one fresh 3 MB buffer per upload, on the event loop) and copying the photo out
of it afterwards cost two copies where one is enough.

The grammar is RFC 2046 §5.1.1 as used by RFC 7578: an optional preamble, then
``--boundary`` lines each followed by a part's header lines, an empty line and its data, and a
final ``--boundary--``. Anything else is a :class:`MultipartError` naming what is wrong.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import AsyncIterator, Sequence
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
    data: bytes


def boundary_of(content_type_header: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None if it is not one."""
    content_type, options = parse_options_header(content_type_header)
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        return None
    return boundary


# Pieces smaller than ``DIRECT_BYTES`` are gathered into chunks of ``GATHER_BYTES`` as they
# arrive: over a phone's network a body comes a few KB at a time, and the splitter's work per
# chunk (a look at each seam) should not grow with how finely the bytes were sent. Larger
# pieces (uvicorn hands over 64–256 KB at a time when the network is fast) are kept as they
# are, without a copy.
DIRECT_BYTES = 16 * 1024
GATHER_BYTES = 64 * 1024


async def read_body(chunks: AsyncIterator[bytes], limit: int) -> list[bytes]:
    """The whole body in chunks (small pieces gathered), refusing (``BodyTooLarge``) as soon
    as it passes ``limit`` bytes."""
    received: list[bytes] = []
    gathering = bytearray()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"over {limit // 2**20} MB")
        if len(chunk) >= DIRECT_BYTES:
            if gathering:
                received.append(bytes(gathering))
                gathering.clear()
            received.append(chunk)
            continue
        gathering += chunk
        if len(gathering) >= GATHER_BYTES:
            received.append(bytes(gathering))
            gathering.clear()
    if gathering:
        received.append(bytes(gathering))
    return received


class _Chunks:
    """A body kept as the chunks it arrived in, searched and sliced as if it were one."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = [bytes(chunk) for chunk in chunks]
        self.starts = list(itertools.accumulate((len(c) for c in self.chunks), initial=0))
        self.size = self.starts[-1]

    def _chunk_at(self, position: int) -> int:
        return max(bisect.bisect_right(self.starts, position) - 1, 0)

    def find(self, pattern: bytes, start: int, end: int | None = None) -> int:
        """The first ``pattern`` starting at or after ``start`` and ending by ``end``; -1."""
        end = self.size if end is None else min(end, self.size)
        start = max(start, 0)
        if end - start < len(pattern):
            return -1
        index = self._chunk_at(start)
        overlap = len(pattern) - 1
        while index < len(self.chunks) and self.starts[index] < end:
            chunk, base = self.chunks[index], self.starts[index]
            found = chunk.find(pattern, start - base, end - base)
            if found >= 0:
                return base + found
            # A match that starts in this chunk and ends in a later one.
            seam = base + len(chunk)
            if overlap and seam < end:
                low = max(start, seam - overlap)
                window = self.slice(low, min(seam + overlap, end))
                found = window.find(pattern)
                if found >= 0:
                    return low + found
            start = seam
            index += 1
        return -1

    def startswith(self, prefix: bytes, position: int) -> bool:
        return self.slice(position, position + len(prefix)) == prefix

    def slice(self, start: int, end: int) -> bytes:
        """Bytes ``start:end`` of the body, copied once (a view-free ``bytes``)."""
        start, end = max(start, 0), min(end, self.size)
        if start >= end:
            return b""
        first, last = self._chunk_at(start), self._chunk_at(end - 1)
        if first == last:
            base = self.starts[first]
            chunk = self.chunks[first]
            return (
                chunk
                if (start, end) == (base, base + len(chunk))
                else chunk[start - base : end - base]
            )
        pieces = [memoryview(self.chunks[first])[start - self.starts[first] :]]
        pieces.extend(memoryview(self.chunks[i]) for i in range(first + 1, last))
        pieces.append(memoryview(self.chunks[last])[: end - self.starts[last]])
        return b"".join(pieces)


def split_parts(body: bytes | Sequence[bytes], boundary: bytes, *, max_parts: int) -> list[Part]:
    """The parts of a multipart body (given whole, or as the chunks it arrived in), in order;
    each part's data is copied out once."""
    chunks = _Chunks([body] if isinstance(body, bytes | bytearray | memoryview) else body)
    delimiter = b"--" + boundary
    start = chunks.find(delimiter, 0)
    if start < 0:
        raise MultipartError("the boundary from the Content-Type header never appears")
    if start > 0 and chunks.slice(start - 2, start) != CRLF:
        raise MultipartError("the first boundary does not start a line")
    parts: list[Part] = []
    position = start + len(delimiter)
    while True:
        if chunks.startswith(b"--", position):
            return parts  # the closing delimiter; what follows is the epilogue
        position = _end_of_line(chunks, position)
        if len(parts) >= max_parts:
            raise BodyTooLarge(f"more than {max_parts} parts")
        header_end = chunks.find(CRLF + CRLF, position - 2, position + MAX_HEADER_BYTES)
        if header_end < 0:
            raise MultipartError(
                f"part {len(parts) + 1}: no end of its headers within {MAX_HEADER_BYTES} bytes"
            )
        headers = _parse_headers(chunks.slice(position, header_end), len(parts) + 1)
        data_start = header_end + 4
        data_end = chunks.find(CRLF + delimiter, data_start)
        if data_end < 0:
            raise MultipartError(f"part {len(parts) + 1} is cut off: no boundary after its data")
        parts.append(_part(headers, chunks.slice(data_start, data_end), len(parts) + 1))
        position = data_end + 2 + len(delimiter)


def _end_of_line(chunks: _Chunks, position: int) -> int:
    """Skip the transport padding and CRLF after a delimiter; the next line's start."""
    end = chunks.find(CRLF, position, position + 256)
    if end < 0 or chunks.slice(position, end).strip(b" \t"):
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


def _part(headers: dict[bytes, bytes], data: bytes, number: int) -> Part:
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
