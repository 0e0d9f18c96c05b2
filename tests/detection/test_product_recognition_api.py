from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.parse

import numpy as np
import pytest
import requests
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from shelfscan.api.errors import install_error_handlers
from shelfscan.api.routes.product_recognition import (
    PRETRAINED_MODEL,
    RunExecutor,
    RunStore,
    get_executor,
    get_models,
    get_run_store,
    router,
)
from shelfscan.detection.base import Detector, DetectorError, DetectorInfo
from shelfscan.detection.replay import ReplayDetector
from shelfscan.detections import Detections
from shelfscan.settings import AZURE_SAMPLE_DIR as AZURE_SAMPLE
from tests.conftest import make_api_key

SAMPLE_DIR = AZURE_SAMPLE
API = {"api-version": "2023-04-01-preview"}


class Models:
    def __init__(self, **detectors: Detector) -> None:
        self.detectors = detectors

    def get(self, model_name: str) -> Detector | None:
        return self.detectors.get(model_name)

    def names(self) -> list[str]:
        return list(self.detectors)


class BlockingDetector:
    """Holds a run in 'running' until released, to test polling and early deletes."""

    def __init__(self) -> None:
        self.release = threading.Event()

    @property
    def info(self) -> DetectorInfo:
        return DetectorInfo(backend="test", model_name="blocking")

    def detect(self, image: Image.Image) -> Detections:
        self.release.wait(5)
        return Detections.build(
            [[1, 2, 30, 40]], ["cola"], [0.9], image_width=image.width, image_height=image.height
        )


class FailingDetector:
    @property
    def info(self) -> DetectorInfo:
        return DetectorInfo(backend="test", model_name="failing")

    def detect(self, image: Image.Image) -> Detections:
        raise DetectorError("Custom Vision at https://x failed after 6 attempts: HTTP 429")


def jpeg(width: int = 400, height: int = 300) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def replay_detector() -> ReplayDetector:
    return ReplayDetector(
        {
            "imageMetadata": {"width": 400, "height": 300},
            "products": [
                {
                    "id": "1",
                    "boundingBox": {"x": 10, "y": 20, "w": 50, "h": 80},
                    "tags": [{"name": "Triscuit Crackers", "confidence": 0.9}],
                }
            ],
            "gaps": [
                {
                    "id": "2",
                    "boundingBox": {"x": 100, "y": 20, "w": 40, "h": 80},
                    "tags": [{"name": "gap", "confidence": 0.8}],
                }
            ],
        }
    )


def make_app(models: Models, wait_s: float = 5.0) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)  # the app renders the routes' errors
    app.include_router(router)
    store = RunStore()
    executor = RunExecutor(wait_s=wait_s)
    app.dependency_overrides[get_models] = lambda: models
    app.dependency_overrides[get_run_store] = lambda: store
    app.dependency_overrides[get_executor] = lambda: executor
    return app


@pytest.fixture
def client():
    models = Models(**{PRETRAINED_MODEL: replay_detector(), "blocking": BlockingDetector()})
    models.detectors["failing"] = FailingDetector()
    with TestClient(make_app(models)) as test_client:
        test_client.models = models
        yield test_client


def put(client, model: str, run: str, body: bytes, content_type: str = "image/jpeg", **params):
    return client.put(
        f"/computervision/productrecognition/{model}/runs/{run}",
        params={**API, **params},
        content=body,
        headers={"Content-Type": content_type, "Ocp-Apim-Subscription-Key": "any"},
    )


def test_put_returns_the_finished_run_in_azure_shape(client):
    response = put(client, PRETRAINED_MODEL, "run-1", jpeg())
    assert response.status_code == 201
    run = response.json()
    assert run["runName"] == "run-1" and run["modelName"] == PRETRAINED_MODEL
    assert run["status"] == "succeeded"
    assert run["createdDateTime"].endswith("Z") and run["updatedDateTime"] >= run["createdDateTime"]
    result = run["result"]
    assert result["imageMetadata"] == {"width": 400, "height": 300}
    assert result["products"] == [
        {
            "id": "1",
            "boundingBox": {"x": 10, "y": 20, "w": 50, "h": 80},
            "tags": [{"name": "Triscuit Crackers", "confidence": 0.9}],
        }
    ]
    assert result["gaps"][0]["tags"] == [{"name": "gap", "confidence": 0.8}]


def test_get_and_delete_a_run(client):
    put(client, PRETRAINED_MODEL, "r", jpeg())
    url = f"/computervision/productrecognition/{PRETRAINED_MODEL}/runs/r"
    assert client.get(url, params=API).json()["status"] == "succeeded"
    assert client.delete(url, params=API).status_code == 204
    missing = client.get(url, params=API)
    assert missing.status_code == 404
    assert missing.headers["x-ms-error-code"] == "NotFound"
    assert missing.json()["error"]["target"] == "runName"


def test_slow_runs_are_polled_and_cannot_be_deleted_while_running():
    detector = BlockingDetector()
    with TestClient(make_app(Models(blocking=detector), wait_s=0)) as client:
        response = put(client, "blocking", "slow", jpeg())
        assert response.status_code == 201
        assert response.json()["status"] in ("notStarted", "running")
        url = "/computervision/productrecognition/blocking/runs/slow"
        early = client.delete(url, params=API)
        assert early.status_code == 409
        assert early.json()["error"]["innererror"]["code"] == "RunNotFinished"
        detector.release.set()
        for _ in range(100):
            if client.get(url, params=API).json()["status"] == "succeeded":
                break
            time.sleep(0.02)
        assert client.get(url, params=API).json()["result"]["products"][0]["boundingBox"] == {
            "x": 1,
            "y": 2,
            "w": 29,
            "h": 38,
        }
        assert client.delete(url, params=API).status_code == 204


def test_a_failing_detector_gives_a_failed_run_with_the_reason(client):
    run = put(client, "failing", "f", jpeg()).json()
    assert run["status"] == "failed"
    assert run["error"]["code"] == "DetectorError"
    assert "HTTP 429" in run["error"]["message"]
    assert "result" not in run


@pytest.mark.parametrize(
    ("call", "status", "code", "target"),
    [
        (lambda c: put(c, PRETRAINED_MODEL, "-bad", jpeg()), 400, "InvalidArgument", "runName"),
        (lambda c: put(c, PRETRAINED_MODEL, "x" * 256, jpeg()), 400, "InvalidArgument", "runName"),
        (lambda c: put(c, "no-such-model", "r", jpeg()), 404, "NotFound", "modelName"),
        (
            lambda c: put(c, PRETRAINED_MODEL, "r", b"not an image"),
            400,
            "InvalidImageFormat",
            "body",
        ),
        (lambda c: put(c, PRETRAINED_MODEL, "r", b""), 400, "InvalidImageFormat", "body"),
        (
            lambda c: put(c, PRETRAINED_MODEL, "r", jpeg(40, 300)),
            400,
            "InvalidImageDimension",
            "body",
        ),
        (
            lambda c: put(
                c, PRETRAINED_MODEL, "r", b'{"url": "https://x/y.jpg"}', "application/json"
            ),
            400,
            "NotSupported",
            "url",
        ),
        (
            lambda c: c.put(
                f"/computervision/productrecognition/{PRETRAINED_MODEL}/runs/r",
                content=jpeg(),
                headers={"Content-Type": "image/jpeg"},
            ),
            400,
            "UnsupportedApiVersion",
            "api-version",
        ),
        (
            lambda c: c.get(
                f"/computervision/productrecognition/{PRETRAINED_MODEL}/runs",
                params={**API, "top": 31},
            ),
            400,
            "InvalidRequest",
            "top",
        ),
    ],
)
def test_errors_use_azure_error_bodies(client, call, status, code, target):
    response = call(client)
    assert response.status_code == status
    assert response.headers["x-ms-error-code"] == code
    error = response.json()["error"]
    assert set(error) == {"code", "message", "target", "details", "innererror"}
    assert error["innererror"]["code"] == code
    assert error["target"] == target
    assert error["message"]


def test_unknown_model_lists_the_available_ones(client):
    message = put(client, "my-custom-model", "r", jpeg()).json()["error"]["message"]
    assert PRETRAINED_MODEL in message


def test_url_bodies_explain_the_alternative(client):
    message = put(client, PRETRAINED_MODEL, "r", b'{"url": "https://x"}', "application/json")
    assert "image bytes" in message.json()["error"]["message"]


def test_duplicate_run_names_conflict(client):
    assert put(client, PRETRAINED_MODEL, "same", jpeg()).status_code == 201
    again = put(client, PRETRAINED_MODEL, "same", jpeg())
    assert again.status_code == 409
    assert again.headers["x-ms-error-code"] == "AlreadyExists"


def test_oversized_images_are_refused_before_decoding(client):
    response = put(client, PRETRAINED_MODEL, "big", b"\xff" * (20 * 1024 * 1024 + 1))
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "InvalidImageSize"


def test_list_runs_pages_with_next_link(client):
    for i in range(5):
        put(client, PRETRAINED_MODEL, f"run-{i}", jpeg())
    url = f"/computervision/productrecognition/{PRETRAINED_MODEL}/runs"
    page = client.get(url, params={**API, "top": 2}).json()
    assert [r["runName"] for r in page["value"]] == ["run-0", "run-1"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page["nextLink"]).query)
    assert query["skip"] == ["2"] and query["top"] == ["2"]
    last = client.get(url, params={**API, "skip": 4, "top": 2}).json()
    assert [r["runName"] for r in last["value"]] == ["run-4"] and last["nextLink"] is None


def test_run_store_forgets_the_oldest_finished_runs():
    from shelfscan.api.routes.product_recognition import SUCCEEDED, Run

    store = RunStore(max_runs=3)
    for i in range(5):
        store.add(Run(run_name=f"r{i}", model_name="m", status=SUCCEEDED))
    assert [r.run_name for r in store.list("m")] == ["r2", "r3", "r4"]


# --- the official sample client, against a real server --------------------------------------


class SampleStyleClient:
    """What the official ``ProductRecognitionClient`` does on the wire (requests, urljoin onto
    '/computervision', api-version query, Ocp-Apim-Subscription-Key, raw image body, polling
    until succeeded or failed), reproduced so the test needs no extra package."""

    def __init__(self, multi_service_endpoint: str, resource_key: str) -> None:
        self._endpoint = urllib.parse.urljoin(multi_service_endpoint, "/computervision")
        self._headers = {"Ocp-Apim-Subscription-Key": resource_key}
        self._params = {"api-version": "2023-04-01-preview"}

    def _url(self, path: str) -> str:
        # Exactly as the official client: it passes paths with a leading slash and still
        # joins with another one, so every URL it sends has '//' after '/computervision'.
        return self._endpoint + "/" + path

    def create_run(self, run_name: str, model_name: str, img: bytes) -> dict:
        response = requests.put(
            self._url(f"/productrecognition/{model_name}/runs/{run_name}"),
            params=self._params,
            data=img,
            headers=dict(self._headers, **{"Content-Type": "image/jpeg"}),
        )
        response.raise_for_status()
        return response.json()

    def query_run(self, run_name: str, model_name: str) -> dict:
        response = requests.get(
            self._url(f"/productrecognition/{model_name}/runs/{run_name}"),
            params=self._params,
            headers=self._headers,
        )
        response.raise_for_status()
        return response.json()

    def delete_run(self, run_name: str, model_name: str) -> None:
        requests.delete(
            self._url(f"/productrecognition/{model_name}/runs/{run_name}"),
            params=self._params,
            headers=self._headers,
        ).raise_for_status()

    def wait_for_completion(self, run_name: str, model_name: str, check_wait_s: float) -> dict:
        while True:
            run = self.query_run(run_name, model_name)
            # The sample parses exactly these keys; a missing one would raise KeyError there.
            for key in ("runName", "modelName", "status", "createdDateTime", "updatedDateTime"):
                assert key in run
            if run["status"] in ("failed", "succeeded"):
                return run
            time.sleep(check_wait_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_server(settings):
    """The whole shelfscan application, as deployed, with the sample's detections replayed;
    yields its endpoint and an API key to use as the subscription key."""
    from shelfscan.api.app import create_app
    from shelfscan.detection.factory import clear_detector_cache
    from shelfscan.settings import DetectorBackend

    clear_detector_cache()
    key = make_api_key(settings.resolved_database_url, "hq_analyst")
    app = create_app(
        settings.model_copy(
            update={
                "detector_backend": DetectorBackend.REPLAY,
                "replay_path": SAMPLE_DIR / "sample_customized_recognition_result.json",
            }
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    # An endpoint with a path, as users paste it: urljoin drops it, as the sample client does.
    yield f"http://127.0.0.1:{port}/some/base/", key
    server.should_exit = True
    thread.join(10)
    clear_detector_cache()


@pytest.mark.skipif(not SAMPLE_DIR.exists(), reason="shared Azure sample not present")
def test_official_sample_client_flow_against_shelfscan(live_server):
    endpoint, key = live_server
    client = SampleStyleClient(endpoint, resource_key=key)
    photo = (SAMPLE_DIR / "sample_image.jpg").read_bytes()

    created = client.create_run("sample-run", PRETRAINED_MODEL, photo)
    assert created["status"] in ("notStarted", "running", "succeeded")
    run = client.wait_for_completion("sample-run", PRETRAINED_MODEL, check_wait_s=0.05)

    assert run["status"] == "succeeded"
    expected = json.loads((SAMPLE_DIR / "sample_customized_recognition_result.json").read_text())
    result = run["result"]
    assert result["imageMetadata"] == expected["imageMetadata"]
    assert len(result["products"]) == len(expected["products"])
    assert len(result["gaps"]) == len(expected["gaps"])
    first, want = result["products"][0], expected["products"][0]
    assert first["boundingBox"] == want["boundingBox"]
    assert first["tags"][0]["name"] == want["tags"][0]["name"]
    boxes = np.array([[p["boundingBox"][k] for k in "xywh"] for p in result["products"]])
    assert (boxes[:, 0] + boxes[:, 2] <= result["imageMetadata"]["width"] + 1).all()

    client.delete_run("sample-run", PRETRAINED_MODEL)
    with pytest.raises(requests.HTTPError) as gone:
        client.query_run("sample-run", PRETRAINED_MODEL)
    assert gone.value.response.status_code == 404
