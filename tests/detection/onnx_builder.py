"""Write a small ONNX detector by hand, without the ``onnx`` package.

The graph ignores its input and always returns the same YOLOv8-style raw output
``(1, 4 + classes, anchors)`` (centre-x, centre-y, width, height in network-input pixels, then
per-class scores). That makes the whole ultralytics ONNX Runtime path — letterbox, inference,
NMS, scaling back to the photo — testable with boxes whose correct answer is known.

Encoded straight to protobuf (onnx.proto field numbers); ultralytics reads the class names from
``metadata_props`` exactly as it does for its own exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

FLOAT = 1  # TensorProto.DataType.FLOAT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: Sequence[int]) -> bytes:
    dims = b"".join(_bytes_field(1, _int_field(1, d)) for d in shape)  # Dimension.dim_value
    tensor_type = _int_field(1, FLOAT) + _bytes_field(2, dims)  # elem_type, shape
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def _tensor(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_int_field(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return dims + _int_field(2, FLOAT) + _bytes_field(8, name) + _bytes_field(9, raw)


def constant_detector_output(
    boxes_cxcywh: Sequence[Sequence[float]],
    class_scores: Sequence[Sequence[float]],
    anchors: int,
) -> np.ndarray:
    """Raw head output with the given boxes in the first anchors and zeros elsewhere."""
    classes = len(class_scores[0])
    output = np.zeros((1, 4 + classes, anchors), dtype=np.float32)
    for i, (box, scores) in enumerate(zip(boxes_cxcywh, class_scores, strict=True)):
        output[0, :4, i] = box
        output[0, 4:, i] = scores
    return output


def write_constant_detector(
    path: Path,
    output: np.ndarray,
    *,
    names: Mapping[int, str],
    imgsz: int = 320,
) -> Path:
    node = (
        _bytes_field(1, "head")
        + _bytes_field(2, "output0")
        + _bytes_field(3, "identity")
        + _bytes_field(4, "Identity")
    )
    graph = (
        _bytes_field(1, node)
        + _bytes_field(2, "constant-detector")
        + _bytes_field(5, _tensor("head", output))
        + _bytes_field(11, _value_info("images", (1, 3, imgsz, imgsz)))
        + _bytes_field(12, _value_info("output0", output.shape))
    )
    metadata = {
        "description": "constant test detector",
        "author": "shelfscan tests",
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "imgsz": str([imgsz, imgsz]),
        "names": str(dict(names)),
        "channels": "3",
        "args": str({"batch": 1, "half": False, "dynamic": False, "nms": False}),
    }
    model = (
        _int_field(1, 8)  # ir_version
        + _bytes_field(2, "shelfscan-tests")  # producer_name
        + _bytes_field(7, graph)
        + _bytes_field(8, _bytes_field(1, "") + _int_field(2, 17))  # opset_import
        + b"".join(
            _bytes_field(14, _bytes_field(1, key) + _bytes_field(2, value))
            for key, value in metadata.items()
        )
    )
    path.write_bytes(model)
    return path
