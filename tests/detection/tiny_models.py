"""Models for tests, made on the spot: nothing is downloaded.

``write_tiny_pt`` builds a miniature YOLOv8-style detection network with random weights from a
config dict (the same code path ultralytics uses for ``yolov8n.yaml``) and saves it the way
ultralytics saves checkpoints, with the class names inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import shelfscan.offline  # noqa: F401

TINY_CONFIG = {
    "scales": {"n": [0.33, 0.25, 1024]},
    "backbone": [
        [-1, 1, "Conv", [16, 3, 2]],
        [-1, 1, "Conv", [32, 3, 2]],
        [-1, 1, "C2f", [32, True]],
        [-1, 1, "Conv", [64, 3, 2]],
        [-1, 1, "C2f", [64, True]],
        [-1, 1, "Conv", [128, 3, 2]],
        [-1, 1, "C2f", [128, True]],
    ],
    "head": [[[2, 4, 6], 1, "Detect", ["nc"]]],
}


def write_tiny_pt(path: Path, names: Mapping[int, str], seed: int = 0) -> Path:
    import torch
    from ultralytics import __version__
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    network = DetectionModel(dict(TINY_CONFIG, nc=len(names)), nc=len(names), verbose=False)
    network.names = dict(names)
    torch.save(
        {"model": network.half(), "train_args": {}, "date": "test", "version": __version__}, path
    )
    return path
