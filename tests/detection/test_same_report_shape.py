"""The same photo through every backend gives the same shape of answer (issue 5's "done when")."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from shelfscan.api.routes.product_recognition import (
    PRETRAINED_MODEL,
    RunExecutor,
    RunStore,
    get_executor,
    get_models,
    get_run_store,
    router,
)
from shelfscan.detection.customvision import CustomVisionDetector, RetryPolicy
from shelfscan.detection.replay import ReplayDetector, detections_to_document
from shelfscan.detection.yolo import YoloDetector
from shelfscan.detections import Detections
from tests.detection.fake_customvision import FakeCustomVision
from tests.detection.onnx_builder import constant_detector_output, write_constant_detector

NAMES = {0: "cola-330ml", 1: "chips-150g", 2: "gap"}


def shape_of(value):
    """The structure of a JSON value: keys and types, not the numbers."""
    if isinstance(value, dict):
        return {key: shape_of(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape_of(value[0])] if value else []
    return type(value).__name__ if not isinstance(value, int | float) else "number"


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def backends(tmp_path_factory, photo):
    onnx = write_constant_detector(
        tmp_path_factory.mktemp("m") / "shelf.onnx",
        constant_detector_output(
            [[160, 160, 80, 40], [60, 60, 40, 40]], [[0.9, 0, 0], [0, 0, 0.7]], anchors=2100
        ),
        names=NAMES,
    )
    yolo = YoloDetector(onnx)
    recorded = yolo.detect(photo)
    with FakeCustomVision(
        predictions=[
            {
                "probability": float(recorded.confidence[i]),
                "tagName": str(recorded.labels[i]),
                "boundingBox": dict(
                    zip(
                        ("left", "top", "width", "height"),
                        (
                            recorded.xyxy[i, 0] / 800,
                            recorded.xyxy[i, 1] / 600,
                            recorded.widths[i] / 800,
                            recorded.heights[i] / 600,
                        ),
                        strict=True,
                    )
                ),
            }
            for i in range(len(recorded))
        ]
    ) as fake:
        customvision = CustomVisionDetector(
            fake.endpoint,
            fake.prediction_key,
            fake.project_id,
            fake.published_name,
            retry=RetryPolicy(max_retries=1, base_delay_s=0.01),
        )
        replay = ReplayDetector(detections_to_document(recorded))
        yield {"yolo": yolo, "customvision": customvision, "replay": replay}


def test_every_backend_gives_the_same_detections_for_the_same_photo(backends, photo):
    results: dict[str, Detections] = {name: d.detect(photo) for name, d in backends.items()}
    reference = results["yolo"]
    for name, detections in results.items():
        order = np.argsort(-detections.confidence)
        ref_order = np.argsort(-reference.confidence)
        np.testing.assert_allclose(
            detections.xyxy[order], reference.xyxy[ref_order], atol=1e-3, err_msg=name
        )
        assert list(detections.labels[order]) == list(reference.labels[ref_order]), name
        assert list(detections.is_gap[order]) == list(reference.is_gap[ref_order]), name
        assert (detections.image_width, detections.image_height) == (800, 600)
    shapes = {name: shape_of(d.to_azure_result()) for name, d in results.items()}
    assert shapes["yolo"] == shapes["customvision"] == shapes["replay"]
    assert shapes["yolo"]["products"] and shapes["yolo"]["gaps"]


def test_every_backend_serves_the_azure_compatible_api(backends, photo):
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    shapes = {}
    for name, detector in backends.items():
        app = FastAPI()
        app.include_router(router)
        models, store, executor = _Single(detector), RunStore(), RunExecutor(wait_s=10)
        # Closures, not default arguments: FastAPI would read those as query parameters.
        app.dependency_overrides[get_models] = _provide(models)
        app.dependency_overrides[get_run_store] = _provide(store)
        app.dependency_overrides[get_executor] = _provide(executor)
        with TestClient(app) as client:
            run = client.put(
                f"/computervision/productrecognition/{PRETRAINED_MODEL}/runs/{name}",
                params={"api-version": "2023-04-01-preview"},
                content=buffer.getvalue(),
                headers={"Content-Type": "image/png"},
            ).json()
        assert run["status"] == "succeeded", run
        shapes[name] = shape_of(run)
    assert shapes["yolo"] == shapes["customvision"] == shapes["replay"]


class _Single:
    def __init__(self, detector) -> None:
        self.detector = detector

    def get(self, model_name: str):
        return self.detector if model_name == PRETRAINED_MODEL else None

    def names(self) -> list[str]:
        return [PRETRAINED_MODEL]


def _provide(value):
    def provider():
        return value

    return provider
