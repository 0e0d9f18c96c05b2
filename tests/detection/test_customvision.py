from __future__ import annotations

import io
import random
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from shelfscan.detection.base import (
    DetectorAuthError,
    DetectorConfigError,
    DetectorRequestError,
    DetectorUnavailableError,
)
from shelfscan.detection.customvision import (
    CustomVisionDetector,
    RetryPolicy,
    encode_for_upload,
    parse_retry_after,
)
from shelfscan.settings import Settings
from tests.detection.fake_customvision import FakeCustomVision, Reply

PREDICTIONS = [
    {
        "probability": 0.93,
        "tagName": "cola-330ml",
        "boundingBox": {"left": 0.10, "top": 0.20, "width": 0.25, "height": 0.50},
    },
    {
        "probability": 0.61,
        "tagName": "gap",
        "boundingBox": {"left": 0.50, "top": 0.00, "width": 0.20, "height": 0.40},
    },
    {
        "probability": 0.05,
        "tagName": "cola-330ml",
        "boundingBox": {"left": 0.80, "top": 0.80, "width": 0.10, "height": 0.10},
    },
]


class Sleeps:
    """Records requested delays instead of sleeping, keeping retry tests instant."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def fake():
    with FakeCustomVision(predictions=PREDICTIONS) as server:
        yield server


def make_detector(fake: FakeCustomVision, **options) -> CustomVisionDetector:
    options.setdefault("retry", RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05))
    options.setdefault("sleep", Sleeps())
    options.setdefault("timeout_s", 2.0)
    return CustomVisionDetector(
        fake.endpoint, fake.prediction_key, fake.project_id, fake.published_name, **options
    )


def photo(width: int = 800, height: int = 600) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_boxes_come_back_in_pixels_of_the_original_photo(fake):
    detections = make_detector(fake, probability_threshold=0.25).detect(photo(800, 600))

    assert list(detections.labels) == ["cola-330ml", "gap"]  # 0.05 box filtered on the client
    np.testing.assert_allclose(detections.xyxy[0], [80, 120, 280, 420])
    np.testing.assert_allclose(detections.xyxy[1], [400, 0, 560, 240])
    assert list(detections.is_gap) == [False, True]
    np.testing.assert_allclose(detections.confidence, [0.93, 0.61])
    assert (detections.image_width, detections.image_height) == (800, 600)
    assert detections.model.version == "9f0c7a1e-0000-4000-8000-000000000002"
    assert detections.timings_ms["attempts"] == 1


def test_request_speaks_the_documented_protocol(fake):
    make_detector(fake).detect(photo())
    (request,) = fake.requests
    assert request.path == (
        f"/customvision/v3.0/Prediction/{fake.project_id}/detect/iterations/"
        f"{fake.published_name}/image/nostore"
    )
    assert request.headers["Prediction-Key"] == fake.prediction_key
    assert request.headers["Content-Type"] == "application/octet-stream"
    assert request.image_size == (800, 600)


def test_store_images_uses_the_storing_route(fake):
    make_detector(fake, store_images=True).detect(photo())
    assert fake.requests[0].path.endswith("/image")


def test_threshold_zero_keeps_low_probability_boxes(fake):
    detections = make_detector(fake, probability_threshold=0.0).detect(photo())
    assert len(detections) == 3


def test_max_detections_keeps_the_most_probable(fake):
    detections = make_detector(fake, probability_threshold=0.0, max_detections=1).detect(photo())
    assert list(detections.labels) == ["cola-330ml"]
    assert detections.confidence[0] == pytest.approx(0.93)


def test_portal_prediction_url_is_accepted_as_endpoint(fake):
    url = (
        f"{fake.endpoint}customvision/v3.0/Prediction/{fake.project_id}/detect/iterations/"
        f"{fake.published_name}/image"
    )
    detector = CustomVisionDetector(url, fake.prediction_key, sleep=Sleeps())
    assert len(detector.detect(photo())) == 2
    assert detector.info.model_name == f"{fake.project_id}/{fake.published_name}"


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_is_an_auth_error_without_retries(fake, status):
    if status == 401:
        detector = CustomVisionDetector(
            fake.endpoint, "wrong-key", fake.project_id, fake.published_name, sleep=Sleeps()
        )
    else:
        fake.then(Reply(403, {"code": "Forbidden", "message": "quota disabled"}))
        detector = make_detector(fake)
    with pytest.raises(DetectorAuthError, match="SHELFSCAN_CUSTOMVISION_PREDICTION_KEY") as error:
        detector.detect(photo())
    assert error.value.status_code == status
    assert len(fake.requests) == 1


def test_unknown_published_iteration_names_what_to_check(fake):
    detector = CustomVisionDetector(
        fake.endpoint, fake.prediction_key, fake.project_id, "no-such-iteration", sleep=Sleeps()
    )
    with pytest.raises(DetectorRequestError, match="no-such-iteration") as error:
        detector.detect(photo())
    assert error.value.status_code == 404
    assert error.value.code == "BadRequestPublishedIterationNotFound"
    assert "SHELFSCAN_CUSTOMVISION_ITERATION" in str(error.value)
    assert len(fake.requests) == 1


def test_unknown_project_is_not_found(fake):
    detector = CustomVisionDetector(
        fake.endpoint, fake.prediction_key, "other-project", fake.published_name, sleep=Sleeps()
    )
    with pytest.raises(DetectorRequestError, match="other-project"):
        detector.detect(photo())


def test_rejected_image_is_a_request_error_not_retried(fake):
    fake.then(Reply(400, {"code": "BadRequestImageFormat", "message": "Bad Request Image Format"}))
    with pytest.raises(DetectorRequestError, match="BadRequestImageFormat"):
        make_detector(fake).detect(photo())
    assert len(fake.requests) == 1


def test_429_storm_honours_retry_after_and_keeps_the_photo(fake):
    fake.then(*[Reply(429, headers={"Retry-After": str(n)}) for n in (1, 2, 3, 1, 2)])
    sleeps = Sleeps()
    detector = make_detector(
        fake, sleep=sleeps, retry=RetryPolicy(max_retries=6, base_delay_s=0.01)
    )
    detections = detector.detect(photo())

    assert len(detections) == 2
    assert sleeps.delays == [1, 2, 3, 1, 2]
    assert len(fake.requests) == 6
    assert len({r.body for r in fake.requests}) == 1  # the very same bytes every time
    assert fake.requests[-1].image_size == (800, 600)
    assert detections.timings_ms["attempts"] == 6


def test_retry_after_is_capped(fake):
    fake.then(Reply(429, headers={"Retry-After": "86400"}))
    sleeps = Sleeps()
    make_detector(fake, sleep=sleeps, retry=RetryPolicy(max_retry_after_s=7)).detect(photo())
    assert sleeps.delays == [7]


def test_endless_throttling_gives_up_with_unavailable(fake):
    fake.then(*[Reply(429, headers={"Retry-After": "0"}) for _ in range(10)])
    with pytest.raises(DetectorUnavailableError, match="HTTP 429") as error:
        make_detector(fake, retry=RetryPolicy(max_retries=3)).detect(photo())
    assert error.value.attempts == 4
    assert error.value.status_code == 429
    assert len(fake.requests) == 4


def test_server_errors_back_off_exponentially_with_jitter(fake):
    fake.then(Reply(500), Reply(503), Reply(502), Reply(504))
    sleeps = Sleeps()
    policy = RetryPolicy(max_retries=5, base_delay_s=0.1, max_delay_s=10)
    detections = make_detector(fake, sleep=sleeps, retry=policy, rng=random.Random(7)).detect(
        photo()
    )
    assert len(detections) == 2
    assert len(sleeps.delays) == 4
    for n, delay in enumerate(sleeps.delays):
        ceiling = 0.1 * 2**n
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(sleeps.delays)) == 4


def test_timeouts_are_retried_and_the_photo_survives(fake):
    fake.then(Reply(delay_s=1.0), Reply(delay_s=1.0))
    sleeps = Sleeps()
    detections = make_detector(fake, sleep=sleeps, timeout_s=0.2).detect(photo())
    assert len(detections) == 2
    assert len(sleeps.delays) == 2
    assert len({r.body for r in fake.requests}) == 1


def test_dropped_connections_are_retried(fake):
    fake.then(Reply(drop=True))
    detections = make_detector(fake).detect(photo())
    assert len(detections) == 2
    assert len(fake.requests) == 2


def test_persistent_timeouts_give_up(fake):
    fake.then(*[Reply(delay_s=0.5) for _ in range(3)])
    with pytest.raises(DetectorUnavailableError, match="timed out"):
        make_detector(fake, timeout_s=0.1, retry=RetryPolicy(max_retries=2)).detect(photo())


def test_large_photo_is_downscaled_under_4mb_with_coordinates_still_right(fake):
    big = photo(3000, 2400)  # noise: JPEG of this is far above 4 MB
    raw = io.BytesIO()
    big.save(raw, format="JPEG", quality=90)
    assert raw.tell() > 4 * 1024 * 1024

    detections = make_detector(fake).detect(big)

    uploaded = fake.requests[0]
    assert len(uploaded.body) <= 4 * 1024 * 1024
    assert uploaded.image_size is not None and uploaded.image_size[0] < 3000
    assert uploaded.image_size[0] / uploaded.image_size[1] == pytest.approx(3000 / 2400, rel=1e-2)
    np.testing.assert_allclose(detections.xyxy[0], [300, 480, 1050, 1680])
    assert (detections.image_width, detections.image_height) == (3000, 2400)


def test_encode_for_upload_leaves_small_photos_alone():
    encoded = encode_for_upload(photo(640, 480))
    assert (encoded.width, encoded.height) == (640, 480)
    assert encoded.data[:2] == b"\xff\xd8"


def test_concurrent_detects_share_one_client(fake):
    detector = make_detector(fake)
    results: list[int] = []

    def work() -> None:
        results.append(len(detector.detect(photo(320, 240))))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [2] * 6


def test_parse_retry_after_variants():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "5"}) == 5
    assert parse_retry_after({"retry-after": "Mon, 01 Jan 2024 12:00:30 GMT"}, now=now) == 30
    assert parse_retry_after({"Retry-After": "Mon, 01 Jan 2024 11:00:00 GMT"}, now=now) == 0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_from_settings_names_every_missing_variable():
    settings = Settings(_env_file=None, customvision_endpoint="https://x.example/")
    with pytest.raises(DetectorConfigError) as error:
        CustomVisionDetector.from_settings(settings)
    for name in ("PREDICTION_KEY", "PROJECT_ID", "ITERATION"):
        assert f"SHELFSCAN_CUSTOMVISION_{name}" in str(error.value)
    assert "SHELFSCAN_CUSTOMVISION_ENDPOINT" not in str(error.value)


def test_from_settings_against_the_fake(fake):
    settings = Settings(
        _env_file=None,
        customvision_endpoint=fake.endpoint,
        customvision_prediction_key=fake.prediction_key,
        customvision_project_id=fake.project_id,
        customvision_iteration=fake.published_name,
        confidence_threshold=0.5,
    )
    detections = CustomVisionDetector.from_settings(settings).detect(photo())
    assert list(detections.confidence) == pytest.approx([0.93, 0.61])


def test_endpoint_must_be_a_url():
    with pytest.raises(DetectorConfigError, match="SHELFSCAN_CUSTOMVISION_ENDPOINT"):
        CustomVisionDetector("cognitiveservices.azure.com", "k", "p", "i")
