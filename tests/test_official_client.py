"""Microsoft's own sample client and visualiser (PyPI:
cognitive-service-vision-model-customization-python-samples), unchanged, against a running
shelfscan — only the endpoint differs, as it will for migrating users."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image

from shelfscan.api.app import create_app
from shelfscan.detection.factory import clear_detector_cache
from shelfscan.settings import DetectorBackend, Settings
from tests.conftest import make_api_key

samples = pytest.importorskip("cognitive_service_vision_model_customization_python_samples")


@pytest.fixture
def subscription_key(settings: Settings) -> str:
    """An API key, used as the sample client's subscription key."""
    return make_api_key(settings.resolved_database_url, "hq_analyst")


@pytest.fixture
def shelfscan_endpoint(
    settings: Settings, azure_sample: Path, subscription_key: str
) -> Iterator[str]:
    clear_detector_cache()
    app = create_app(
        settings.model_copy(
            update={
                "detector_backend": DetectorBackend.REPLAY,
                "replay_path": azure_sample / "sample_customized_recognition_result.json",
            }
        )
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "shelfscan did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    clear_detector_cache()


def test_product_recognition_then_planogram_matching_with_the_official_client(
    shelfscan_endpoint: str, azure_sample: Path, subscription_key: str
) -> None:
    resource = samples.ResourceType.MULTI_SERVICE_RESOURCE
    recognition = samples.ProductRecognitionClient(
        resource, None, shelfscan_endpoint, subscription_key
    )
    photo = (azure_sample / "sample_image.jpg").read_bytes()

    run = samples.ProductRecognition("migration-check", "ms-pretrained-product-detection")
    recognition.create_run(run, photo, "image/jpeg")
    recognition.wait_for_completion(run.name, run.model_name, check_wait_in_secs=0)
    finished = recognition.query_run(run.name, run.model_name)
    assert finished.status == samples.ProductRecognitionStatus.SUCCEEDED
    expected = json.loads((azure_sample / "sample_customized_recognition_result.json").read_text())
    assert finished.result["imageMetadata"] == expected["imageMetadata"]
    assert len(finished.result["products"]) == len(expected["products"])
    recognition.delete_run(run.name, run.model_name)

    planogram = json.loads((azure_sample / "sample_planogram.json").read_text())
    compliance = samples.PlanogramComplianceClient(
        resource, None, shelfscan_endpoint, subscription_key
    )
    response = compliance.match_planogram(
        samples.PlanogramMatchingRequest(finished.result, planogram)
    )
    assert len(response.matching_result) == len(planogram["Positions"])

    # The official visualiser prints one line per problem it finds; read its verdicts.
    image = np.asarray(Image.open(azure_sample / "sample_image.jpg").convert("RGB"))[:, :, ::-1]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        drawn = samples.visualize_matching_result(image.copy(), response.to_dict(), planogram)
    assert drawn.shape == image.shape
    lines = printed.getvalue().splitlines()
    missing = sorted(line.split()[4].rstrip(",") for line in lines if "Missing" in line)
    misplaced = sorted(line.split()[4].rstrip(",") for line in lines if "Misplaced" in line)
    assert missing == ["0003", "0030", "0056"]
    assert misplaced == ["0012", "0020", "0021", "0022", "0023"]


def test_the_official_client_is_refused_with_a_wrong_key(
    shelfscan_endpoint: str, azure_sample: Path
) -> None:
    resource = samples.ResourceType.MULTI_SERVICE_RESOURCE
    recognition = samples.ProductRecognitionClient(
        resource, None, shelfscan_endpoint, "ssk_wrongkey_" + "x" * 43
    )
    run = samples.ProductRecognition("refused", "ms-pretrained-product-detection")
    with pytest.raises(Exception) as refused:
        recognition.create_run(run, (azure_sample / "sample_image.jpg").read_bytes(), "image/jpeg")
    assert "401" in str(refused.value)
