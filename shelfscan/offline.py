"""Keep ultralytics from reaching the network (no hub, no weight or font downloads, no
telemetry, no pip installs) and from changing how the rest of shelfscan opens images.

Import this module before ultralytics, and import ultralytics through
:func:`import_ultralytics`."""

from __future__ import annotations

import os
from types import ModuleType

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def import_ultralytics() -> ModuleType:
    """``import ultralytics``, then undo its global ``PIL.Image.open`` patch.

    On import, ultralytics replaces ``PIL.Image.open`` with a wrapper that, the first time
    Pillow cannot identify a file, tries to pip-install ``pi-heif`` and then fails with
    ModuleNotFoundError instead of ``UnidentifiedImageError``. Every corrupt upload would then
    become a server error in any process that had loaded a YOLO model. shelfscan registers
    pillow-heif itself, so the wrapper is not wanted.
    """
    import ultralytics
    from PIL import Image
    from ultralytics.utils import patches

    original_open = getattr(patches, "_image_open", None)
    if original_open is not None:
        Image.open = original_open
    if hasattr(patches, "_pil_plugins_registered"):
        patches._pil_plugins_registered = True
    return ultralytics
