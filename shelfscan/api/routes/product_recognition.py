"""Azure-compatible product recognition (Image Analysis 4.0 preview, ``2023-04-01-preview``).

Drop-in for the retired service: the official sample ``ProductRecognitionClient`` works against
shelfscan with only its endpoint changed. Image bytes in, run object out; the run is computed by
the configured detector (YOLO, Custom Vision or replay) in a worker thread. The PUT waits a
little for the run to finish so that simple clients get the result at once; slower runs are
polled with GET, as the sample client does.

Differences from Azure, on purpose:

* ``{"url": ...}`` bodies are refused with a clear error: shelfscan runs offline and does not
  fetch images from the internet. Send the image bytes instead (the sample client does).
* Runs live in this process's memory (newest 1,000 kept), not in a database, for now.
* Any ``Ocp-Apim-Subscription-Key`` is accepted; put authentication in front if you need it.
* Tags are the detector's class names (product names with a custom model);
  ``ms-pretrained-product-detection`` runs the configured default model.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shelfscan.detection.base import Detector, DetectorError
from shelfscan.images import ImageDecodeError, load_image
from shelfscan.imaging.validation import UploadLimits, UploadRejected, precheck_photo
from shelfscan.services.errors import ShelfscanError
from shelfscan.settings import Settings, get_settings

API_VERSION = "2023-04-01-preview"
PRETRAINED_MODEL = "ms-pretrained-product-detection"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
MAX_NAME_LENGTH = 255
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_SIDE_PX, MAX_SIDE_PX = 50, 16_000
MAX_RUNS_KEPT = 1000
# The upload route's limits (shelfscan.imaging): the same on every route that takes an image.
UPLOAD_LIMITS = UploadLimits(max_bytes=MAX_IMAGE_BYTES, min_side=MIN_SIDE_PX, max_side=MAX_SIDE_PX)

router = APIRouter(prefix="/computervision", tags=["product recognition (Azure-compatible)"])


# --- errors ---------------------------------------------------------------------------------


def azure_error(
    status: int,
    code: str,
    message: str,
    *,
    target: str | None = None,
    inner_code: str | None = None,
) -> ShelfscanError:
    """A service error in Azure's terms; the app renders it in Azure's shape, the header
    carrying the specific ``inner_code`` as the preview service did."""
    return ShelfscanError(code, message, http_status=status, field=target, inner_code=inner_code)


def _check_api_version(request: Request) -> None:
    version = request.query_params.get("api-version")
    if version != API_VERSION:
        raise azure_error(
            400,
            "InvalidRequest",
            f"api-version must be {API_VERSION!r}, got {version!r}",
            target="api-version",
            inner_code="UnsupportedApiVersion",
        )


def _check_name(value: str, target: str) -> None:
    if len(value) > MAX_NAME_LENGTH or not NAME_PATTERN.match(value):
        raise azure_error(
            400,
            "InvalidRequest",
            f"{target} {value!r} is invalid: up to {MAX_NAME_LENGTH} characters, letters, digits, "
            "'.', '_' and '-', starting with a letter or digit",
            target=target,
            inner_code="InvalidArgument",
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- runs -----------------------------------------------------------------------------------

NOT_STARTED, RUNNING, SUCCEEDED, FAILED = "notStarted", "running", "succeeded", "failed"


@dataclass
class Run:
    run_name: str
    model_name: str
    status: str = NOT_STARTED
    created: str = field(default_factory=_now)
    updated: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.updated = self.updated or self.created

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "runName": self.run_name,
            "modelName": self.model_name,
            "status": self.status,
            "createdDateTime": self.created,
            "updatedDateTime": self.updated,
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body


class RunStore:
    """Runs of this process, newest last; the oldest finished runs are forgotten past a limit."""

    def __init__(self, max_runs: int = MAX_RUNS_KEPT) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[tuple[str, str], Run] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, run: Run) -> None:
        key = (run.model_name, run.run_name)
        with self._lock:
            if key in self._runs:
                raise azure_error(
                    409,
                    "Conflict",
                    f"run {run.run_name!r} already exists for model {run.model_name!r}; "
                    "delete it first or use another run name",
                    target="runName",
                    inner_code="AlreadyExists",
                )
            self._runs[key] = run
            excess = len(self._runs) - self.max_runs
            for old_key in [k for k, r in self._runs.items() if r.finished][: max(excess, 0)]:
                del self._runs[old_key]

    def get(self, model_name: str, run_name: str) -> Run:
        with self._lock:
            run = self._runs.get((model_name, run_name))
        if run is None:
            raise azure_error(
                404,
                "NotFound",
                f"run {run_name!r} of model {model_name!r} not found",
                target="runName",
            )
        return run

    def update(self, run: Run, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(run, key, value)
            run.updated = _now()

    def snapshot(self, run: Run) -> dict[str, Any]:
        """The run as JSON, consistent even while a worker is updating it."""
        with self._lock:
            return run.to_json()

    def delete(self, model_name: str, run_name: str) -> None:
        run = self.get(model_name, run_name)
        if not run.finished:
            raise azure_error(
                409,
                "Conflict",
                f"run {run_name!r} is still {run.status}; delete it once it has finished",
                target="runName",
                inner_code="RunNotFinished",
            )
        with self._lock:
            self._runs.pop((model_name, run_name), None)

    def list(self, model_name: str) -> list[Run]:
        with self._lock:
            return [run for (model, _), run in self._runs.items() if model == model_name]


_default_store = RunStore()


def get_run_store() -> RunStore:
    return _default_store


# --- models ---------------------------------------------------------------------------------


class ModelRegistry(Protocol):
    def get(self, model_name: str) -> Detector | None: ...

    def names(self) -> list[str]: ...


class ConfiguredModels:
    """The configured detector, reachable as the pretrained name and under its own name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _detector(self) -> Detector:
        from shelfscan.detection.factory import get_detector

        try:
            return get_detector(self.settings)
        except DetectorError as error:
            raise azure_error(
                503, "ServiceUnavailable", f"the detection model is not available: {error}"
            ) from error

    def get(self, model_name: str) -> Detector | None:
        if model_name == PRETRAINED_MODEL:
            return self._detector()
        detector = self._detector()
        return detector if model_name == detector.info.model_name else None

    def names(self) -> list[str]:
        return [PRETRAINED_MODEL, self._detector().info.model_name]


def get_models(request: Request) -> ModelRegistry:
    settings = getattr(request.app.state, "settings", None) or get_settings()
    return ConfiguredModels(settings)


# --- execution ------------------------------------------------------------------------------


class RunExecutor:
    """Runs detections off the event loop; the PUT waits up to ``wait_s`` for the result."""

    def __init__(self, max_workers: int = 2, wait_s: float = 10.0) -> None:
        self.wait_s = wait_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="recognition")

    def submit(self, store: RunStore, run: Run, detector: Detector, image: Any) -> Future[None]:
        return self._pool.submit(_execute, store, run, detector, image)


def _execute(store: RunStore, run: Run, detector: Detector, image: Any) -> None:
    store.update(run, status=RUNNING)
    try:
        detections = detector.detect(image)
    except DetectorError as error:
        store.update(run, status=FAILED, error={"code": "DetectorError", "message": str(error)})
    except Exception as error:  # the run must end up failed, never stuck at "running"
        store.update(
            run,
            status=FAILED,
            error={"code": "InternalServerError", "message": f"{type(error).__name__}: {error}"},
        )
    else:
        store.update(run, status=SUCCEEDED, result=detections.to_azure_result())


_default_executor: RunExecutor | None = None
_executor_lock = threading.Lock()


def get_executor() -> RunExecutor:
    global _default_executor
    with _executor_lock:
        if _default_executor is None:
            _default_executor = RunExecutor()
        return _default_executor


# --- routes ---------------------------------------------------------------------------------

RUN_PATH = "/productrecognition/{modelName}/runs/{runName}"


# The scan upload route's checks, by the code the preview service answered each with.
_AZURE_IMAGE_CODES = {
    "file_too_large": "InvalidImageSize",
    "image_too_small": "InvalidImageDimension",
    "image_too_large": "InvalidImageDimension",
    "decompression_bomb": "InvalidImageDimension",
}


def _precheck(body: bytes) -> None:
    """The upload route's structural checks on the header, before a pixel is decoded: size,
    format, 50–16,000 px a side and the pixel budget (a 31 KB PNG claiming 16,000×16,000 px
    once took 3 GB to decode)."""
    try:
        # No declared type: Azure's clients send application/octet-stream for every image.
        precheck_photo(body, None, field_name="body", limits=UPLOAD_LIMITS)
    except UploadRejected as error:
        raise azure_error(
            400,
            "InvalidRequest",
            error.message,
            target="body",
            inner_code=_AZURE_IMAGE_CODES.get(error.code, "InvalidImageFormat"),
        ) from None


def _decode(body: bytes) -> Any:
    _precheck(body)
    try:
        image = load_image(body)
    except ImageDecodeError as error:
        raise azure_error(
            400,
            "InvalidRequest",
            f"the body is not a supported image ({error})",
            target="body",
            inner_code="InvalidImageFormat",
        ) from error
    if not all(MIN_SIDE_PX < side < MAX_SIDE_PX for side in image.size):
        raise azure_error(
            400,
            "InvalidRequest",
            f"image is {image.width}x{image.height}; each side must be more than {MIN_SIDE_PX} "
            f"and less than {MAX_SIDE_PX} pixels",
            target="body",
            inner_code="InvalidImageDimension",
        )
    return image


async def _read_image_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
        raise _too_large(int(declared))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type == "application/json" or body[:1] == b"{":
        raise azure_error(
            400,
            "InvalidRequest",
            "image URLs are not supported: shelfscan runs offline and does not fetch images. "
            "Send the image bytes as the body with Content-Type image/jpeg or image/png.",
            target="url",
            inner_code="NotSupported",
        )
    if len(body) > MAX_IMAGE_BYTES:
        raise _too_large(len(body))
    if not body:
        raise azure_error(
            400,
            "InvalidRequest",
            "the body is empty; send the image bytes",
            target="body",
            inner_code="InvalidImageFormat",
        )
    return body


def _too_large(size: int) -> ShelfscanError:
    return azure_error(
        400,
        "InvalidRequest",
        f"image is {size} bytes; the limit is {MAX_IMAGE_BYTES} bytes (20 MB)",
        target="body",
        inner_code="InvalidImageSize",
    )


class RunOut(BaseModel):
    """A run as Azure describes it (``result`` once succeeded, ``error`` once failed)."""

    model_config = ConfigDict(extra="allow")

    runName: str
    modelName: str
    status: str = Field(description="notStarted, running, succeeded or failed")
    createdDateTime: str
    updatedDateTime: str
    result: dict[str, Any] | None = Field(default=None, description="Detected products")
    error: dict[str, Any] | None = None


class RunListOut(BaseModel):
    value: list[RunOut]
    nextLink: str | None


@router.put(
    RUN_PATH,
    status_code=201,
    response_model=RunOut,
    summary="Start a product recognition run on an image",
)
async def create_run(
    modelName: str,
    runName: str,
    request: Request,
    store: RunStore = Depends(get_run_store),
    models: ModelRegistry = Depends(get_models),
    executor: RunExecutor = Depends(get_executor),
) -> JSONResponse:
    _check_api_version(request)
    _check_name(modelName, "modelName")
    _check_name(runName, "runName")
    body = await _read_image_body(request)
    await asyncio.to_thread(_precheck, body)  # header checks first: a bomb costs nothing
    detector = await asyncio.to_thread(models.get, modelName)
    if detector is None:
        available = ", ".join(await asyncio.to_thread(models.names))
        raise azure_error(
            404,
            "NotFound",
            f"model {modelName!r} not found; available: {available}",
            target="modelName",
        )
    image = await asyncio.to_thread(_decode, body)
    run = Run(run_name=runName, model_name=modelName)
    store.add(run)
    future = executor.submit(store, run, detector, image)
    if executor.wait_s > 0:
        with contextlib.suppress(TimeoutError):  # still running after the wait: clients poll
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), executor.wait_s)
    return JSONResponse(store.snapshot(run), status_code=201)


@router.get(RUN_PATH, response_model=RunOut, summary="Get a product recognition run")
def get_run(
    modelName: str,
    runName: str,
    request: Request,
    store: RunStore = Depends(get_run_store),
) -> JSONResponse:
    _check_api_version(request)
    return JSONResponse(store.snapshot(store.get(modelName, runName)))


@router.delete(
    RUN_PATH,
    status_code=204,
    response_class=Response,
    summary="Delete a finished product recognition run",
)
def delete_run(
    modelName: str,
    runName: str,
    request: Request,
    store: RunStore = Depends(get_run_store),
) -> Response:
    _check_api_version(request)
    store.delete(modelName, runName)
    return Response(status_code=204)


@router.get(
    "/productrecognition/{modelName}/runs",
    response_model=RunListOut,
    summary="List product recognition runs",
)
def list_runs(
    modelName: str,
    request: Request,
    store: RunStore = Depends(get_run_store),
    skip: Annotated[int, Query(ge=0)] = 0,
    top: Annotated[int, Query(ge=1, le=30)] = 10,
) -> JSONResponse:
    _check_api_version(request)
    runs = store.list(modelName)
    page = runs[skip : skip + top]
    next_link = None
    if skip + top < len(runs):
        next_link = str(request.url.include_query_params(skip=skip + top, top=top))
    return JSONResponse({"value": [store.snapshot(run) for run in page], "nextLink": next_link})
