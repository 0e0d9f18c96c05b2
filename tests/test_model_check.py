"""The readiness check of the detector (shared by ``/readyz`` and ``shelfscan doctor``)."""

from __future__ import annotations

import pytest

from shelfscan.detection.base import DetectorConfigError
from shelfscan.detection.customvision import CustomVisionDetector
from shelfscan.model_check import check_model
from shelfscan.settings import DetectorBackend, Settings

CONFIGURED = {
    "customvision_endpoint": "https://shop.cognitiveservices.azure.com/",
    "customvision_prediction_key": "key",
    "customvision_project_id": "project",
    "customvision_iteration": "Iteration1",
}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {**CONFIGURED, "customvision_iteration": None},
        {**CONFIGURED, "customvision_endpoint": "shop.cognitiveservices.azure.com"},
    ],
    ids=["nothing set", "no iteration", "endpoint not a URL"],
)
def test_custom_vision_check_says_what_the_detector_itself_refuses(overrides: dict) -> None:
    settings = Settings(_env_file=None, detector_backend=DetectorBackend.CUSTOMVISION, **overrides)
    with pytest.raises(DetectorConfigError) as refused:
        CustomVisionDetector.from_settings(settings)
    check = check_model(settings)
    assert check.ok is False and check.backend == "customvision"
    assert check.detail == str(refused.value)
    assert "SHELFSCAN_CUSTOMVISION_" in check.detail


def test_configured_custom_vision_is_ready_without_calling_it() -> None:
    settings = Settings(_env_file=None, detector_backend=DetectorBackend.CUSTOMVISION, **CONFIGURED)
    check = check_model(settings)
    assert check.ok is True
    assert CONFIGURED["customvision_endpoint"] in check.detail
