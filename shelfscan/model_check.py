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
    backend = settings.detector_backend.value
    if settings.detector_backend is DetectorBackend.CUSTOMVISION:
        missing = [
            name
            for name in ("endpoint", "prediction_key", "project_id", "iteration")
            if not getattr(settings, f"customvision_{name}")
        ]
        if missing:
            names = ", ".join(f"SHELFSCAN_CUSTOMVISION_{m.upper()}" for m in missing)
            return ModelCheck(False, backend, f"not configured: {names}")
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
