"""The Azure-compatible recognition route applies the upload route's image limits on the
header, before decoding (issue 19, case 6)."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shelfscan.api.app import create_app
from shelfscan.settings import DetectorBackend, Settings
from tests.hardening.conftest import admin_headers

RUN = "/computervision/productrecognition/ms-pretrained-product-detection/runs/{}"
QUERY = {"api-version": "2023-04-01-preview"}


def png_claiming(width: int, height: int) -> bytes:
    """A real small PNG whose header claims ``width``×``height``."""
    buffer = io.BytesIO()
    Image.new("L", (64, 64)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) claims ``width``×``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"detector_backend": DetectorBackend.REPLAY})
    with TestClient(create_app(configured)) as test_client:
        test_client.headers.update(admin_headers(configured))
        yield test_client


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        (png_claiming(15_999, 15_999), "MP limit"),
        (jpeg_claiming(15_000, 15_000), "MP limit"),
        (png_claiming(16_001, 100), "16,000 px"),
        (png_claiming(40, 400), "50 px"),
    ],
    ids=["png-bomb", "jpeg-header-bomb", "too-wide", "too-small"],
)
def test_images_over_the_limits_are_refused_before_decoding(
    client: TestClient, body: bytes, limit: str
) -> None:
    started = time.perf_counter()
    answer = client.put(
        RUN.format("bomb"),
        params=QUERY,
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert time.perf_counter() - started < 5
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["innererror"]["code"] == "InvalidImageDimension"
    assert limit in error["message"]
    assert client.get(RUN.format("bomb"), params=QUERY).status_code == 404


def test_an_image_over_20_mb_is_refused_naming_the_limit(client: TestClient) -> None:
    answer = client.put(
        RUN.format("big"),
        params=QUERY,
        content=b"\x89PNG" + b"\0" * (20 * 1024 * 1024 + 10),
        headers={"Content-Type": "image/png"},
    )
    assert answer.status_code in (400, 413)
    assert "20" in answer.json()["error"]["message"]
