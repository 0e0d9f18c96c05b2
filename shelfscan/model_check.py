"""Is the configured detector usable? Shared by ``/readyz`` and ``shelfscan doctor``."""

from __future__ import annotations

from dataclasses import dataclass

from shelfscan.settings import DetectorBackend, Settings


@dataclass(frozen=True)
class ModelCheck:
    ok: bool
    backend: str
    detail: str


def check_model(settings: Settings) -> ModelCheck:
    """Whether the configured detector can be built, and what it is (or why it cannot be).

    Custom Vision is not called: building the client runs the same configuration checks the
    detector itself applies (``CustomVisionDetector.from_settings``), so the two cannot drift.
    A YOLO model is loaded (and cached, so the first scan does not pay for it).
    """
    backend = settings.detector_backend.value
    if settings.detector_backend is DetectorBackend.CUSTOMVISION:
        from shelfscan.detection.base import DetectorConfigError
        from shelfscan.detection.customvision import CustomVisionDetector

        try:
            client = CustomVisionDetector.from_settings(settings)
        except DetectorConfigError as error:
            return ModelCheck(False, backend, str(error))
        client.close()
        return ModelCheck(True, backend, f"Custom Vision at {settings.customvision_endpoint}")
    if settings.detector_backend is DetectorBackend.REPLAY:
        path = settings.replay_path
        if path is not None and not path.exists():
            return ModelCheck(False, backend, f"replay file not found: {path}")
        return ModelCheck(True, backend, f"replay from {path or 'request'}")
    from shelfscan.detection.factory import get_detector

    try:
        detector = get_detector(settings)
    except Exception as error:  # any load failure means "not ready", reported, not raised
        return ModelCheck(False, backend, str(error))
    return ModelCheck(True, backend, f"loaded {detector.info}")
