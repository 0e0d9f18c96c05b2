"""Detection backends: one interface, several ways to turn a shelf photo into detections."""

from shelfscan.detection.base import (
    Detector,
    DetectorAuthError,
    DetectorConfigError,
    DetectorError,
    DetectorInfo,
    DetectorRequestError,
    DetectorUnavailableError,
    ModelLoadError,
    ModelNotFoundError,
)

__all__ = [
    "Detector",
    "DetectorAuthError",
    "DetectorConfigError",
    "DetectorError",
    "DetectorInfo",
    "DetectorRequestError",
    "DetectorUnavailableError",
    "ModelLoadError",
    "ModelNotFoundError",
]
