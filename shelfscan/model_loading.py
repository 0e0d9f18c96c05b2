"""Load the detection model in the background at start, so that the first scan does not pay
for it (a cold start once made the first scan take 33.6 s) and ``/readyz`` can say
``loading`` until it is there.

The detector is the process-wide one (``shelfscan.detection.factory.get_detector``), built
under a lock: a scan that arrives during the load waits for that same load, never for a
second one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from shelfscan.settings import DetectorBackend, Settings

log = logging.getLogger(__name__)


class ModelState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ModelStatus:
    """What ``/readyz`` reads: the model's load state, a detail and how long it took."""

    state: ModelState = ModelState.LOADING
    detail: str = "loading the detection model"
    seconds: float | None = None


class ModelLoader(ModelStatus):
    """The background load and what became of it."""

    def __init__(
        self, settings: Settings, on_done: Callable[[ModelLoader], None] | None = None
    ) -> None:
        self.settings = settings
        self.on_done = on_done  # told the outcome (the analysis process reports it this way)
        self.state = ModelState.LOADING
        self.detail = "loading the detection model"
        self.seconds = None
        self._thread = threading.Thread(target=self._load, name="model-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _load(self) -> None:
        from shelfscan.model_check import check_model

        started = time.perf_counter()
        try:
            check = check_model(self.settings)  # builds and caches the detector
            if check.ok and self.settings.detector_backend is DetectorBackend.YOLO:
                _first_inference(self.settings)
        except Exception as error:  # reported by /readyz, never raised into the server
            self.state, self.detail = ModelState.FAILED, f"{type(error).__name__}: {error}"
        else:
            self.state = ModelState.READY if check.ok else ModelState.FAILED
            self.detail = check.detail
        self.seconds = round(time.perf_counter() - started, 2)
        log.info(
            "detection model load finished",
            extra={"state": self.state.value, "s": self.seconds, "detail": self.detail},
        )
        if self.on_done is not None:
            self.on_done(self)


def _first_inference(settings: Settings) -> None:
    """One tiny prediction: runtimes compile their graph on the first call, not at load."""
    from PIL import Image

    from shelfscan.detection.factory import get_detector

    get_detector(settings).detect(Image.new("RGB", (640, 480), (128, 128, 128)))
