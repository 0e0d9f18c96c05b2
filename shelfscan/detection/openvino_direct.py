"""An OpenVINO detection model called directly, with ultralytics' own letterbox arithmetic and
its own NMS, so that the boxes are those of ``YOLO(folder).predict(...)`` without the predictor
around them.

ultralytics' predictor costs about as much again as the network for one photo on a CPU (source
loading, a ``Results`` object and copies of the photo, per-call set-up): ≈ 11 ms of a 26 ms
detection on an 8 MP photo. Here one compiled model and one infer request are kept and reused;
the photo is letterboxed exactly as ``ultralytics.data.augment.LetterBox`` does it for a
fixed-size export (same size rounding, ``cv2.INTER_LINEAR``, grey 114 borders split the same
way), divided by 255 in float32 like ``DetectionPredictor.preprocess``, and the output goes
through ``ultralytics.utils.nms.non_max_suppression`` and ``ultralytics.utils.ops.scale_boxes``
with the same arguments. ``tests/detection/test_openvino_direct.py`` holds it to the
ultralytics path's boxes on a demo photo.

Only the plain case is taken (:func:`direct_model_problem` says why not otherwise): a batch-1,
float32 export with one raw output and no NMS inside, of a fixed size (fed the square) or with
dynamic shapes (fed the smallest rectangle of whole strides around the photo, ultralytics'
``auto`` letterbox: on a 2:3 portrait photo 640×416, about a third less inference than the
square). Anything else stays with ultralytics, as do ``.pt`` and ``.onnx`` models.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

PAD_VALUE = 114  # ultralytics' LetterBox default


def letterbox_geometry(
    height: int, width: int, size: int, stride: int | None = None
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """``LetterBox.get_params`` for a ``size`` input: the resized ``(width, height)`` and the
    ``(top, bottom, left, right)`` borders. Without ``stride`` the input is the square (a
    fixed-size export); with it, the smallest rectangle of whole strides around the resized
    photo (``auto=True``, what ultralytics does for a dynamic-shape export)."""
    ratio = min(size / height, size / width)
    new_width, new_height = max(round(width * ratio), 1), max(round(height * ratio), 1)
    pad_width, pad_height = size - new_width, size - new_height
    if stride is not None:
        pad_width, pad_height = pad_width % stride, pad_height % stride
    pad_width, pad_height = pad_width / 2, pad_height / 2
    top, bottom = round(pad_height - 0.1), round(pad_height + 0.1)
    left, right = round(pad_width - 0.1), round(pad_width + 0.1)
    return (new_width, new_height), (top, bottom, left, right)


def letterbox(bgr: np.ndarray, size: int, stride: int | None = None) -> np.ndarray:
    """``bgr`` resized and padded the way ultralytics does it: into a ``size`` × ``size``
    square, or with ``stride`` into the smallest rectangle of whole strides."""
    import cv2

    height, width = bgr.shape[:2]
    (new_width, new_height), (top, bottom, left, right) = letterbox_geometry(
        height, width, size, stride
    )
    if (width, height) != (new_width, new_height):
        bgr = cv2.resize(bgr, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    return cv2.copyMakeBorder(
        bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )


def direct_model_problem(metadata: dict[str, Any], xml: Path, image_size: int) -> str | None:
    """Why the export in ``xml`` (with ultralytics' ``metadata``) cannot be run directly with
    the same result as ultralytics, or None when it can."""
    args = metadata.get("args") or {}
    if metadata.get("task", "detect") != "detect":
        return f"task {metadata.get('task')!r}"
    if metadata.get("end2end") or args.get("nms"):
        return "the export has NMS inside"
    dynamic = bool(args.get("dynamic") or metadata.get("dynamic"))
    if args.get("half") or args.get("int8") or args.get("quantize"):
        return "a reduced-precision export"
    if int(metadata.get("batch", 1) or 1) != 1:
        return "batch size is not 1"
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return f"{len(model.inputs)} inputs and {len(model.outputs)} outputs, expected 1 and 1"
    shape = model.input().get_partial_shape()
    if dynamic:
        # Height and width must really be free: a rectangle fed to a fixed-size network fails.
        if (
            shape.rank.is_dynamic
            or shape.rank.get_length() != 4
            or not (shape[1].is_static and shape[1].get_length() == 3)
            or shape[2].is_static
            or shape[3].is_static
        ):
            return f"input shape {shape}, expected [?,3,?,?]"
    elif shape.is_dynamic or list(shape.to_shape()) != [1, 3, image_size, image_size]:
        return f"input shape {shape}, expected [1,3,{image_size},{image_size}]"
    if model.input().get_element_type() != ov.Type.f32:
        return f"input type {model.input().get_element_type()}"
    return None


class DirectOpenVino:
    """One compiled OpenVINO detection model and one infer request; not thread-safe (the
    caller serialises calls, as :class:`~shelfscan.detection.yolo.YoloDetector` does)."""

    def __init__(self, xml: Path, image_size: int, stride: int | None = None) -> None:
        """``stride``: a dynamic-shape export, fed the smallest rectangle of whole strides
        around the photo (as ultralytics feeds it); None: a fixed-size export, fed the
        ``image_size`` square."""
        import openvino as ov

        from shelfscan.offline import import_ultralytics

        import_ultralytics()
        from ultralytics.utils import ARM64, LINUX

        # ultralytics' NMS uses torchvision's kernel once torchvision is imported (its
        # predictor imports it) and its own otherwise, and the two order boxes of equal score
        # differently: the same kernel keeps the same detection ids.
        with contextlib.suppress(ImportError):
            import torchvision  # noqa: F401
        from ultralytics.utils import nms as ultralytics_nms
        from ultralytics.utils import ops as ultralytics_ops

        core = ov.Core()
        # ultralytics' choice of device and configuration for device="cpu"
        # (ultralytics.nn.backends.openvino.OpenVINOBackend.load_model), so that the
        # network computes the same numbers (its CPU plugin picks bf16 where the CPU has it).
        device_name = "CPU" if core.available_devices == ["CPU"] else "AUTO"
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if LINUX and ARM64 and device_name == "CPU":
            config["EXECUTION_MODE_HINT"] = ov.properties.hint.ExecutionMode.ACCURACY
            config["INFERENCE_PRECISION_HINT"] = ov.Type.f32
        self._compiled = core.compile_model(str(xml), device_name=device_name, config=config)
        self._request = self._compiled.create_infer_request()
        self._input = np.empty((1, 3, image_size, image_size), dtype=np.float32)
        self.image_size = image_size
        self.stride = stride
        self._nms = ultralytics_nms.non_max_suppression
        self._scale_boxes = ultralytics_ops.scale_boxes

    def predict(
        self,
        bgr: np.ndarray,
        *,
        confidence_threshold: float,
        iou_threshold: float,
        max_detections: int,
        class_agnostic_nms: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        """Boxes (xyxy, pixels of ``bgr``), scores, class ids and ultralytics-style timings."""
        import torch

        started = time.perf_counter()
        boxed = letterbox(bgr, self.image_size, self.stride)
        if self._input.shape[2:] != boxed.shape[:2]:  # a dynamic export: this photo's shape
            self._input = np.empty((1, 3, *boxed.shape[:2]), dtype=np.float32)
        # BGR → RGB and HWC → CHW as views, then uint8 / 255 in float32 like ultralytics.
        np.divide(
            boxed[:, :, ::-1].transpose(2, 0, 1),
            np.float32(255),
            out=self._input[0],
            dtype=np.float32,
        )
        preprocessed = time.perf_counter()
        self._request.infer({0: self._input}, share_inputs=True)
        # A copy: NMS edits its input in place, and the request owns this memory.
        output = torch.from_numpy(self._request.get_output_tensor(0).data.copy())
        inferred = time.perf_counter()
        kept = self._nms(
            output,
            confidence_threshold,
            iou_threshold,
            None,
            class_agnostic_nms,
            max_det=max_detections,
            nc=0,
            end2end=False,
            rotated=False,
        )[0]
        kept[:, :4] = self._scale_boxes(boxed.shape[:2], kept[:, :4], bgr.shape)
        finished = time.perf_counter()
        result = kept.numpy()
        return (
            result[:, :4].astype(np.float64),
            result[:, 4].astype(np.float64),
            result[:, 5].astype(np.int64),
            {
                "preprocess": (preprocessed - started) * 1000,
                "inference": (inferred - preprocessed) * 1000,
                "postprocess": (finished - inferred) * 1000,
            },
        )
