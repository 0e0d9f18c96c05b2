"""The upload body splitter: well-formed bodies as real clients send them, and every way a
body can be malformed named in the error."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from shelfscan.api.multipart import (
    BodyTooLarge,
    MultipartError,
    boundary_of,
    read_body,
    split_parts,
)

BOUNDARY = b"----shelfscanTestBoundary7MA4YWxk"


def part(name: str, data: bytes, filename: str | None = None, content_type: str | None = None):
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        headers += f"Content-Type: {content_type}\r\n"
    return headers.encode() + b"\r\n" + data


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    delimiter = b"--" + BOUNDARY
    out = preamble + (b"\r\n" if preamble else b"")
    for p in parts:
        out += delimiter + b"\r\n" + p + b"\r\n"
    return out + delimiter + b"--\r\n" + epilogue


def test_photos_and_fields_come_back_in_order_with_exact_bytes() -> None:
    photo = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    parts = split_parts(
        body(
            part("photos", photo, "shelf.jpg", "image/jpeg"),
            part("taken_by", "Zoë".encode()),
            part("photos", b"second", "b.png", "image/png"),
        ),
        BOUNDARY,
        max_parts=10,
    )
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("photos", "shelf.jpg", "image/jpeg"),
        ("taken_by", None, None),
        ("photos", "b.png", "image/png"),
    ]
    assert bytes(parts[0].data) == photo
    assert bytes(parts[1].data).decode() == "Zoë"
    assert bytes(parts[2].data) == b"second"


def test_preamble_epilogue_and_an_empty_part_are_accepted() -> None:
    parts = split_parts(
        body(part("photos", b"", "empty.jpg"), preamble=b"ignored", epilogue=b"also ignored"),
        BOUNDARY,
        max_parts=10,
    )
    assert len(parts) == 1 and bytes(parts[0].data) == b""


SEAMED_BODY = body(
    part("photos", b"\xff\xd8" + bytes(range(256)) * 3 + b"\r\n--" + BOUNDARY[:-1], "a.jpg"),
    part("taken_by", b"Ana"),
    part("photos", b"", "empty.jpg"),
    part("photos", b"\r\n\r\n--\r\n", "b.jpg", "image/jpeg"),
    preamble=b"pre\r\n--" + BOUNDARY[:5],
    epilogue=b"\r\n--" + BOUNDARY + b"\r\n",
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 17, 40, 41, 64, 1000])
@pytest.mark.parametrize("first", [0, 1, 38, 39, 40])
def test_a_body_in_chunks_splits_as_it_does_whole_wherever_the_seams_fall(
    size: int, first: int
) -> None:
    """The route splits the chunks as they arrived: a delimiter, a header block or a part's
    end may fall across any seam (chunks of one byte included), and near-delimiters inside
    the data stay data."""
    whole = split_parts(SEAMED_BODY, BOUNDARY, max_parts=10)
    cuts = [0, *range(first or size, len(SEAMED_BODY), size), len(SEAMED_BODY)]
    chunks = [SEAMED_BODY[a:b] for a, b in itertools.pairwise(cuts)]
    assert b"".join(chunks) == SEAMED_BODY and len(chunks) > 1
    seamed = split_parts(chunks, BOUNDARY, max_parts=10)
    assert [(p.name, p.filename, p.content_type, p.data) for p in seamed] == [
        (p.name, p.filename, p.content_type, p.data) for p in whole
    ]
    assert [p.data[:2] for p in seamed] == [b"\xff\xd8", b"An", b"", b"\r\n"]
    assert all(type(p.data) is bytes for p in seamed)  # a photo is handed on without a copy


@pytest.mark.parametrize("size", [1, 3, 64])
def test_a_malformed_body_in_chunks_is_refused_as_it_is_whole(size: int) -> None:
    cut_off = b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nhalf"
    chunks = [cut_off[i : i + size] for i in range(0, len(cut_off), size)]
    with pytest.raises(MultipartError, match="part 1 is cut off"):
        split_parts(chunks, BOUNDARY, max_parts=10)


def test_the_boundary_comes_from_a_multipart_form_data_content_type_only() -> None:
    assert boundary_of(f"multipart/form-data; boundary={BOUNDARY.decode()}") == BOUNDARY
    assert boundary_of('multipart/form-data; boundary="quoted b"') == b"quoted b"
    assert boundary_of("application/json") is None
    assert boundary_of("multipart/form-data") is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"no boundary here at all", "never appears"),
        (b"junk--" + BOUNDARY + b"\r\n", "does not start a line"),
        (b"--" + BOUNDARY + b"trailing\r\n", "not followed by the end of its line"),
        (
            b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nhalf a photo",
            "part 1 is cut off",
        ),
        (
            b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=a\r\nno colon\r\n\r\n"
            b"x\r\n--" + BOUNDARY + b"--",
            "part 1: malformed header line",
        ),
        (
            b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n\r\nx\r\n--" + BOUNDARY + b"--",
            "no Content-Disposition: form-data",
        ),
        (b"--" + BOUNDARY + b"\r\n" + b"X-Long: " + b"a" * 20000, "no end of its headers"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(MultipartError, match=problem):
        split_parts(raw, BOUNDARY, max_parts=10)


def test_too_many_parts_is_a_size_refusal() -> None:
    many = body(*(part("photos", b"x", f"{i}.jpg") for i in range(5)))
    assert len(split_parts(many, BOUNDARY, max_parts=5)) == 5
    with pytest.raises(BodyTooLarge, match="more than 4 parts"):
        split_parts(many, BOUNDARY, max_parts=4)


def test_reading_stops_as_soon_as_the_body_passes_the_limit() -> None:
    sent: list[int] = []

    async def chunks():
        for index in range(100):
            sent.append(index)
            yield b"x" * 1000

    async def read(limit: int) -> list[bytes]:
        return await read_body(chunks(), limit)

    assert b"".join(asyncio.run(read(100_000))) == b"x" * 100_000
    sent.clear()
    with pytest.raises(BodyTooLarge):
        asyncio.run(read(5_500))
    assert len(sent) == 6  # the sixth chunk crossed the limit; nothing more was read


def test_a_body_sent_in_small_pieces_is_kept_in_few_chunks() -> None:
    """Over a phone's network a body arrives a few KB at a time: the pieces are gathered, so
    splitting a 3 MB body never walks thousands of seams."""
    from shelfscan.api.multipart import GATHER_BYTES

    photo = bytes(range(256)) * 12_000  # 3 MB
    raw = body(part("photos", photo, "p.jpg", "image/jpeg"))

    async def pieces():
        for start in range(0, len(raw), 1400):  # one TCP segment's payload at a time
            yield raw[start : start + 1400]
        yield b""

    chunks = asyncio.run(read_body(pieces(), 10 * 2**20))
    assert b"".join(chunks) == raw
    assert len(chunks) <= len(raw) // GATHER_BYTES + 1
    assert all(len(chunk) >= GATHER_BYTES for chunk in chunks[:-1])
    assert split_parts(chunks, BOUNDARY, max_parts=10)[0].data == photo

    large: list[bytes] = []

    async def mixed():  # large pieces are kept as they came; the small ones between, gathered
        for start in range(0, len(raw), 70_000):
            large.append(raw[start : start + 50_000])
            yield large[-1]
            for offset in range(start + 50_000, min(start + 70_000, len(raw)), 2_000):
                yield raw[offset : min(offset + 2_000, start + 70_000)]

    kept = asyncio.run(read_body(mixed(), 10 * 2**20))
    assert b"".join(kept) == raw
    assert kept[::2] == large and all(a is b for a, b in zip(kept[::2], large, strict=True))
    assert all(len(chunk) == 20_000 for chunk in kept[1:-2:2])  # ten pieces of 2 KB each


def test_the_upload_warm_up_never_stops_a_start(caplog: pytest.LogCaptureFixture) -> None:
    from shelfscan.api.routes.scans import warm_up
    from shelfscan.settings import Settings

    unreachable = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    warm_up(unreachable)  # no exception: the requests will report the database themselves
    assert "warm-up failed" in caplog.text
