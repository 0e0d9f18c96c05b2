"""An Idempotency-Key reused with a different request is refused, naming the key (issue 19,
case 7); the same request replays."""

from __future__ import annotations

from PIL import Image

from tests.scans.conftest import client_factory, scan_settings  # noqa: F401  (fixtures)
from tests.scans.test_scans_api import PHOTO, _count_scans, _jpeg, upload


def test_a_key_reused_with_another_photo_is_refused(client_factory, scan_settings) -> None:  # noqa: F811
    client = client_factory()
    first = upload(client, key="phone-1")
    assert first.status_code == 202 and first.json()["created"] is True
    same = upload(client, key="phone-1")
    assert same.status_code == 202 and same.headers["Idempotent-Replayed"] == "true"

    other_photo = _jpeg(PHOTO.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    changed = upload(client, [("shelf.jpg", other_photo, "image/jpeg")], key="phone-1")
    assert changed.status_code == 409, changed.text
    error = changed.json()["error"]
    assert error["code"] == "idempotency_key_reused" and error["field"] == "Idempotency-Key"
    assert "phone-1" in error["message"]

    two_photos = upload(
        client,
        [("a.jpg", _jpeg(), "image/jpeg"), ("b.jpg", _jpeg(), "image/jpeg")],
        key="phone-1",
    )
    assert two_photos.status_code == 409
    assert _count_scans(scan_settings) == 1
