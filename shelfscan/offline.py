"""Keep ultralytics from reaching the network: no hub, no weight or font downloads, no telemetry.

Imported before ultralytics anywhere shelfscan loads it."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
