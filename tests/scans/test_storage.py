"""Both storage backends pass the same contract: the local folder, and S3 through boto3 against
a real S3-compatible HTTP server (moto in server mode on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfscan.settings import Settings, StorageBackend
from shelfscan.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    Storage,
    StorageError,
    get_storage,
)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, settings: Settings, request: pytest.FixtureRequest) -> Settings:
    import boto3

    bucket = f"shelfscan-{abs(hash(request.node.nodeid)) % 10**8}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)
    return settings.model_copy(
        update={
            "storage_backend": StorageBackend.S3,
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": __import__("pydantic").SecretStr("test"),
        }
    )


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, settings: Settings) -> Storage:
    if request.param == "local":
        return get_storage(settings)
    return get_storage(request.getfixturevalue("s3_settings"))


def test_put_get_exists_delete(storage: Storage) -> None:
    key = "scans/S001/abc/photo-0.jpg"
    assert not storage.exists(key)
    storage.put(key, b"\xff\xd8photo", "image/jpeg")
    assert storage.exists(key)
    assert storage.get(key) == b"\xff\xd8photo"
    storage.put(key, b"replaced", "image/jpeg")
    assert storage.get(key) == b"replaced"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # idempotent


def test_missing_object(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        storage.get("scans/nothing/here.jpg")
    assert "scans/nothing/here.jpg" in str(caught.value)


def test_modified_is_when_the_object_was_written(storage: Storage) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC) - timedelta(seconds=2)
    storage.put("a/when.jpg", b"x", "image/jpeg")
    stamp = storage.modified("a/when.jpg")
    assert stamp.tzinfo is not None
    assert before <= stamp <= datetime.now(UTC) + timedelta(seconds=2)
    with pytest.raises(ObjectNotFound):
        storage.modified("a/never-written.jpg")


def test_keys_by_prefix(storage: Storage) -> None:
    for key in ("a/1.jpg", "a/2.jpg", "b/1.jpg"):
        storage.put(key, key.encode(), "image/jpeg")
    assert storage.keys("a/") == ["a/1.jpg", "a/2.jpg"]
    assert storage.keys() == ["a/1.jpg", "a/2.jpg", "b/1.jpg"]


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "a/../../b", "a//b", "", "a b"])
def test_keys_cannot_escape_or_be_odd(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.put(key, b"x", "text/plain")


def test_concurrent_writers_never_expose_half_an_object(storage: Storage) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [
        threading.Thread(target=storage.put, args=("same/key.bin", p, "image/jpeg"))
        for p in payloads
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("same/key.bin") in payloads


def test_s3_url_is_presigned_and_fetchable(s3_settings: Settings) -> None:
    import httpx

    storage = get_storage(s3_settings)
    storage.put("x/y.jpg", b"hello", "image/jpeg")
    url = storage.url("x/y.jpg", expires_s=60)
    assert "Signature" in url or "X-Amz-Signature" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"hello"
    assert response.headers["content-type"] == "image/jpeg"


def test_s3_missing_bucket_is_a_storage_error(s3_settings: Settings) -> None:
    storage = get_storage(s3_settings.model_copy(update={"s3_bucket": "no-such-bucket"}))
    with pytest.raises(StorageError) as caught:
        storage.put("a.jpg", b"x", "image/jpeg")
    assert "no-such-bucket" in str(caught.value)


def test_local_storage_leaves_no_temporary_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("a/b.jpg", b"data", "image/jpeg")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.jpg"]
    assert storage.url("a/b.jpg").startswith("file://")


def test_s3_without_bucket_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(StorageError, match="SHELFSCAN_S3_BUCKET"):
        get_storage(settings.model_copy(update={"storage_backend": StorageBackend.S3}))


def test_photos_are_written_into_spare_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, spare_files=3)
    storage.spares.stop()  # made by hand here: no thread making more
    spares = tmp_path / ".spare"
    for _ in range(3):
        assert storage.spares.make_one()
    assert len(list(spares.iterdir())) == 3
    # a photo smaller than a spare, one larger (the spare is cut, or extended)
    small = b"s" * (1024 * 1024 + 5)
    large = bytes(range(256)) * (5 * 1024 * 1024 // 256 + 7)
    storage.put("scans/1/small.jpg", small, "image/jpeg")
    storage.put("scans/1/large.jpg", large, "image/jpeg")
    assert storage.get("scans/1/small.jpg") == small
    assert storage.get("scans/1/large.jpg") == large
    assert (tmp_path / "scans/1/small.jpg").stat().st_size == len(small)
    assert len(list(spares.iterdir())) == 1  # two were used
    assert storage.keys() == ["scans/1/large.jpg", "scans/1/small.jpg"]
    assert sorted(p.name for p in (tmp_path / "scans/1").iterdir()) == ["large.jpg", "small.jpg"]


def test_with_no_spare_left_a_photo_gets_a_new_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, spare_files=1)
    storage.spares.stop()  # no thread making more
    storage.put("a.jpg", b"first", "image/jpeg")
    assert storage.get("a.jpg") == b"first"
    assert storage.spares.make_one()
    storage.put("tiny.json", b"{}", "application/json")  # a small file: no spare used
    assert len(list((tmp_path / ".spare").iterdir())) == 1
    other = LocalStorage(tmp_path, spare_files=1)  # another process sharing the folder
    other.spares.stop()
    claimed = [s.spares.claim(tmp_path, 2 * 1024 * 1024) for s in (storage, other)]
    assert sum(path is not None for path in claimed) == 1  # one spare: claimed once
    storage.put("b.jpg", b"second", "image/jpeg")
    assert storage.get("b.jpg") == b"second"


def test_the_pool_is_kept_full_in_the_background(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, spare_files=2)
    storage.spares.start()  # the app starts it (scans.warm_up)
    spares = tmp_path / ".spare"
    deadline = threading.Event()
    for _ in range(100):
        if (
            spares.exists()
            and len([p for p in spares.iterdir() if not p.name.startswith(".")]) == 2
        ):
            break
        deadline.wait(0.1)
    storage.spares.stop()
    assert len([p for p in spares.iterdir() if not p.name.startswith(".")]) == 2
    assert all(p.stat().st_size == 4 * 1024 * 1024 for p in spares.iterdir())
