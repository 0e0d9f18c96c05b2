"""The one detector interface and its errors.

Every backend (local YOLO, Azure Custom Vision, replay) turns a PIL image into
:class:`shelfscan.detections.Detections` in pixels of that image, so everything downstream
(registration, matching, reports, the Azure-compatible API) is backend-agnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image

# DEFAULT_GAP_CLASSES is re-exported: every detector's default.
from shelfscan.detections import DEFAULT_GAP_CLASSES as DEFAULT_GAP_CLASSES
from shelfscan.detections import Detections


class DetectorError(RuntimeError):
    """A detector could not produce detections; the message says what to do about it."""


class DetectorConfigError(DetectorError):
    """The detector is configured wrongly (missing setting, bad label map, bad endpoint)."""


class ModelNotFoundError(DetectorConfigError):
    """The configured model file or folder does not exist."""

    def __init__(self, path: Path, hint: str = "") -> None:
        self.path = Path(path)
        message = f"model not found: {self.path}"
        super().__init__(f"{message}. {hint}" if hint else message)


class ModelLoadError(DetectorConfigError):
    """The model file exists but cannot be loaded (corrupt, truncated, wrong format)."""

    def __init__(self, path: Path, reason: str, hint: str = "") -> None:
        self.path = Path(path)
        message = f"cannot load model {self.path}: {reason}"
        super().__init__(f"{message}. {hint}" if hint else message)


class DetectorRequestError(DetectorError):
    """A remote detector refused the request for a reason retrying will not fix."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str = "") -> None:
        self.status_code = status_code
        self.code = code
        super().__init__(message)


class DetectorAuthError(DetectorRequestError):
    """The remote detector rejected the credentials (HTTP 401/403)."""


class DetectorUnavailableError(DetectorError):
    """The detector is temporarily unusable (throttled, down, timing out); retry later."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 0) -> None:
        self.status_code = status_code
        self.attempts = attempts
        super().__init__(message)


@dataclass(frozen=True)
class DetectorInfo:
    """What produced the detections: shown in reports, the API and ``/readyz``."""

    backend: str
    model_name: str
    model_version: str = ""
    class_names: tuple[str, ...] = ()
    device: str = ""
    image_size: int | None = None
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        version = f"@{self.model_version}" if self.model_version else ""
        where = f" on {self.device}" if self.device else ""
        return f"{self.backend}:{self.model_name}{version}{where}"


@runtime_checkable
class Detector(Protocol):
    """Anything that turns a photo into detections in pixels of that photo.

    Implementations must be safe to call from several threads at once.
    """

    @property
    def info(self) -> DetectorInfo: ...

    def detect(self, image: Image.Image) -> Detections: ...


def gap_mask(labels: list[str], gap_classes: frozenset[str]) -> list[bool]:
    """Which class names denote empty shelf space (compared case-insensitively)."""
    lowered = {name.casefold() for name in gap_classes}
    return [label.casefold() in lowered for label in labels]
