"""Azure Custom Vision Prediction API v3.0 (object detection) as a detector.

Facts: shared/reference/azure-apis.md §3. The photo is JPEG-encoded once (downscaled if
needed to fit the 4 MB limit) and the same bytes are re-sent on every retry, so throttling or a
flaky network never loses or alters the photo. Boxes come back as fractions of the uploaded
image; multiplying by the *original* size gives original pixels whatever the downscale was,
because the downscale keeps the aspect ratio.
"""

from __future__ import annotations

import email.utils
import io
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
from PIL import Image

from shelfscan.detection.base import (
    DEFAULT_GAP_CLASSES,
    DetectorAuthError,
    DetectorConfigError,
    DetectorError,
    DetectorInfo,
    DetectorRequestError,
    DetectorUnavailableError,
    gap_mask,
)
from shelfscan.detections import Detections, ModelInfo

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_SIDE_PX = 10_240
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A full "Prediction URL" as the Custom Vision portal shows it, accepted as the endpoint.
_PREDICTION_URL = re.compile(
    r"^(?P<base>https?://[^/]+(?:/[^/]+)*?)/customvision/v3\.0/prediction/(?P<project>[^/]+)"
    r"/detect/iterations/(?P<iteration>[^/]+)/image(?:/nostore)?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``Retry-After`` from the service wins when present."""

    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry ``retry_number`` (0-based): half fixed, half random."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**retry_number))
        return ceiling * (0.5 + 0.5 * rng.random())


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``/``x-ms-retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP date (RFC 9110 §10.2.3).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for key in ("retry-after-ms", "x-ms-retry-after-ms"):
        if key in lowered:
            try:
                return max(0.0, float(lowered[key]) / 1000)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int


def encode_for_upload(
    image: Image.Image, max_bytes: int = MAX_UPLOAD_BYTES, max_side: int = MAX_SIDE_PX
) -> EncodedImage:
    """JPEG bytes under ``max_bytes``, downscaled (aspect kept) only as far as needed."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = min(1.0, max_side / max(rgb.size))
    quality = 90
    for _ in range(12):
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        candidate = rgb if size == rgb.size else rgb.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        candidate.save(buffer, format="JPEG", quality=quality, optimize=False)
        if buffer.tell() <= max_bytes:
            return EncodedImage(buffer.getvalue(), *size)
        if quality > 80:
            quality = 80  # cheaper than pixels: try it once before downscaling
            continue
        # JPEG size grows roughly with pixel count, so shrink the side by the square root.
        scale *= max(0.5, min(0.95, math.sqrt(max_bytes / buffer.tell()) * 0.95))
    raise DetectorError(f"cannot encode the photo under {max_bytes} bytes for Custom Vision")


def _service_error(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from a Custom Vision error body, tolerating non-JSON bodies."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        return str(inner.get("code", "")), str(inner.get("message", ""))
    return "", str(body)[:200]


class CustomVisionDetector:
    """Object detection through a published Custom Vision iteration."""

    def __init__(
        self,
        endpoint: str,
        prediction_key: str,
        project_id: str | None = None,
        published_name: str | None = None,
        *,
        store_images: bool = False,
        probability_threshold: float = 0.25,
        max_detections: int = 1000,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        gap_classes: frozenset[str] = DEFAULT_GAP_CLASSES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        base, project_id, published_name = self._parse_endpoint(
            endpoint, project_id, published_name
        )
        if not prediction_key:
            raise DetectorConfigError(
                "Custom Vision prediction key is empty: set SHELFSCAN_CUSTOMVISION_PREDICTION_KEY"
            )
        self.project_id = project_id
        self.published_name = published_name
        self.store_images = store_images
        self.probability_threshold = probability_threshold
        self.max_detections = max_detections
        self.retry = retry or RetryPolicy()
        self.max_upload_bytes = max_upload_bytes
        self.gap_classes = gap_classes
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.url = (
            f"{base}/customvision/v3.0/Prediction/{quote(project_id, safe='')}/detect/iterations/"
            f"{quote(published_name, safe='')}/image{'' if store_images else '/nostore'}"
        )
        # httpx.Client is thread-safe, so one client (one connection pool) serves all requests.
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"Prediction-Key": prediction_key},
            transport=transport,
        )
        self._info = DetectorInfo(
            backend="customvision",
            model_name=f"{project_id}/{published_name}",
            model_version=published_name,
            device="remote",
            details={"endpoint": base},
        )

    @staticmethod
    def _parse_endpoint(
        endpoint: str, project_id: str | None, published_name: str | None
    ) -> tuple[str, str, str]:
        if not endpoint or not endpoint.startswith(("http://", "https://")):
            raise DetectorConfigError(
                f"Custom Vision endpoint {endpoint!r} is not an http(s) URL: set "
                "SHELFSCAN_CUSTOMVISION_ENDPOINT, e.g. https://<resource>.cognitiveservices.azure.com/"
            )
        endpoint = endpoint.rstrip("/")
        if match := _PREDICTION_URL.match(endpoint):
            endpoint = match["base"]
            project_id = project_id or match["project"]
            published_name = published_name or match["iteration"]
        missing = [
            name
            for name, value in (
                ("SHELFSCAN_CUSTOMVISION_PROJECT_ID", project_id),
                ("SHELFSCAN_CUSTOMVISION_ITERATION", published_name),
            )
            if not value
        ]
        if missing:
            raise DetectorConfigError(f"Custom Vision not configured: set {', '.join(missing)}")
        assert project_id and published_name  # narrowed by the check above
        return endpoint, project_id, published_name

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> CustomVisionDetector:
        key = settings.customvision_prediction_key
        missing = [
            f"SHELFSCAN_CUSTOMVISION_{name.upper()}"
            for name in ("endpoint", "prediction_key", "project_id", "iteration")
            if not getattr(settings, f"customvision_{name}")
        ]
        if missing:
            raise DetectorConfigError(f"Custom Vision not configured: set {', '.join(missing)}")
        options: dict[str, Any] = {
            "probability_threshold": settings.confidence_threshold,
            "max_detections": settings.max_detections,
            "timeout_s": settings.customvision_timeout_s,
            "retry": RetryPolicy(max_retries=settings.customvision_max_retries),
        }
        options.update(overrides)
        return cls(
            settings.customvision_endpoint,
            key.get_secret_value() if hasattr(key, "get_secret_value") else str(key),
            settings.customvision_project_id,
            settings.customvision_iteration,
            **options,
        )

    @property
    def info(self) -> DetectorInfo:
        return self._info

    def close(self) -> None:
        self._client.close()

    def detect(self, image: Image.Image) -> Detections:
        started = time.perf_counter()
        encoded = encode_for_upload(image, self.max_upload_bytes)
        encoded_at = time.perf_counter()
        body, attempts = self._post_with_retries(encoded.data)
        finished = time.perf_counter()
        detections = self._to_detections(body, image.width, image.height)
        detections.timings_ms = {
            "encode": (encoded_at - started) * 1000,
            "inference": (finished - encoded_at) * 1000,
            "total": (time.perf_counter() - started) * 1000,
            "attempts": float(attempts),
        }
        return detections

    def _post_with_retries(self, data: bytes) -> tuple[Any, int]:
        last_problem = ""
        last_status: int | None = None
        for attempt in range(self.retry.max_retries + 1):
            wait: float | None = None
            try:
                response = self._client.post(
                    self.url, content=data, headers={"Content-Type": "application/octet-stream"}
                )
            except httpx.TimeoutException as error:
                last_problem, last_status = f"timed out ({type(error).__name__})", None
            except httpx.TransportError as error:
                last_problem, last_status = f"connection failed ({error})", None
            else:
                if response.status_code == 200:
                    try:
                        return response.json(), attempt + 1
                    except ValueError as error:
                        raise DetectorError(
                            f"Custom Vision at {self.url} answered 200 with a non-JSON body"
                        ) from error
                self._raise_for_permanent(response)
                code, message = _service_error(response)
                last_status = response.status_code
                last_problem = f"HTTP {response.status_code} {code} {message}".strip()
                wait = parse_retry_after(response.headers)
            if attempt == self.retry.max_retries:
                break
            delay = (
                min(wait, self.retry.max_retry_after_s)
                if wait is not None
                else self.retry.backoff(attempt, self._rng)
            )
            self._sleep(delay)
        raise DetectorUnavailableError(
            f"Custom Vision at {self.url} failed after {self.retry.max_retries + 1} attempts: "
            f"{last_problem}",
            status_code=last_status,
            attempts=self.retry.max_retries + 1,
        )

    def _raise_for_permanent(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in RETRYABLE_STATUS:
            return
        code, message = _service_error(response)
        detail = f"HTTP {status}{f' {code}' if code else ''}: {message or response.reason_phrase}"
        if status in (401, 403):
            raise DetectorAuthError(
                f"Custom Vision rejected the prediction key ({detail}). Check "
                "SHELFSCAN_CUSTOMVISION_PREDICTION_KEY is the *prediction* key of the resource "
                "that hosts the project",
                status_code=status,
                code=code,
            )
        if status == 404:
            raise DetectorRequestError(
                f"Custom Vision project {self.project_id!r} or published iteration "
                f"{self.published_name!r} not found ({detail}). Check "
                "SHELFSCAN_CUSTOMVISION_PROJECT_ID and SHELFSCAN_CUSTOMVISION_ITERATION (the "
                "published name, not the iteration id)",
                status_code=status,
                code=code,
            )
        raise DetectorRequestError(
            f"Custom Vision refused the image ({detail})", status_code=status, code=code
        )

    def _to_detections(self, body: Any, width: int, height: int) -> Detections:
        predictions = body.get("predictions") if isinstance(body, Mapping) else None
        if not isinstance(predictions, list):
            raise DetectorError("Custom Vision response has no 'predictions' list")
        rows: list[tuple[float, str, list[float]]] = []
        for index, item in enumerate(predictions):
            try:
                probability = float(item["probability"])
                tag = str(item["tagName"])
                box = item["boundingBox"]
                left, top = float(box["left"]), float(box["top"])
                box_w, box_h = float(box["width"]), float(box["height"])
            except (KeyError, TypeError, ValueError) as error:
                raise DetectorError(
                    f"Custom Vision response predictions[{index}] is malformed ({error!r})"
                ) from error
            if probability < self.probability_threshold or box_w <= 0 or box_h <= 0:
                continue
            rows.append((probability, tag, [left, top, left + box_w, top + box_h]))
        rows.sort(key=lambda row: -row[0])
        rows = rows[: self.max_detections]
        fractions = np.array([row[2] for row in rows], dtype=np.float64).reshape(-1, 4)
        xyxy = np.clip(fractions, 0.0, 1.0) * np.array([width, height, width, height])
        labels = [row[1] for row in rows]
        return Detections.build(
            xyxy,
            labels,
            [row[0] for row in rows],
            image_width=width,
            image_height=height,
            is_gap=gap_mask(labels, self.gap_classes),
            alternatives=[{row[1]: row[0]} for row in rows],
            model=ModelInfo(self._info.model_name, str(body.get("iteration") or "")),
        )
