"""Synthetic shelf photos: placeholder packaging, scene rendering and YOLO dataset writing."""

from shelfscan.synth.dataset import ClassEntry, DatasetSummary, class_entries, write_yolo_dataset
from shelfscan.synth.packaging import find_packshot, load_front_faces, render_placeholder
from shelfscan.synth.scene import (
    FacingStatus,
    ObjectRole,
    RenderedScene,
    SceneConfig,
    ShelfRenderer,
)

__all__ = [
    "ClassEntry",
    "DatasetSummary",
    "FacingStatus",
    "ObjectRole",
    "RenderedScene",
    "SceneConfig",
    "ShelfRenderer",
    "class_entries",
    "find_packshot",
    "load_front_faces",
    "render_placeholder",
    "write_yolo_dataset",
]
