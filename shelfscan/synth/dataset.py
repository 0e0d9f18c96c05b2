"""Write renders as a YOLO detection dataset, with per-image truth for end-to-end tests.

Layout under ``out_dir``::

    data.yaml                   ultralytics dataset file (absolute ``path``, train/val, names)
    classes.json                class index -> product id, name, GTIN (the label map)
    images/{train,val}/*.jpg
    labels/{train,val}/*.txt    one ``class cx cy w h`` line per box, normalised
    truth/{train,val}/*.json    per-facing status, every object's role, the homography
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from shelfscan.planogram.model import Planogram, Product
from shelfscan.synth.scene import RenderedScene, SceneConfig, ShelfRenderer

OTHER_CLASS = "other"  # products outside the catalogue, when labelled at all


@dataclass(frozen=True)
class ClassEntry:
    index: int
    name: str  # the model's class name: the product name (what Azure clients compare tags to)
    product_id: str | None
    gtin: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "product_id": self.product_id,
            "gtin": self.gtin,
        }


def class_entries(
    products: Sequence[Product], *, label_foreign: bool = False, single_class: bool = False
) -> list[ClassEntry]:
    """One class per product (union by id, in first-seen order); names are product names,
    suffixed with the id where two products share a name."""
    if single_class:
        return [ClassEntry(0, "product", None)]
    unique: dict[str, Product] = {}
    for product in products:
        unique.setdefault(product.id, product)
    name_counts: dict[str, int] = {}
    for product in unique.values():
        name_counts[product.name] = name_counts.get(product.name, 0) + 1
    entries = [
        ClassEntry(i, p.name if name_counts[p.name] == 1 else f"{p.name} ({p.id})", p.id, p.gtin)
        for i, p in enumerate(unique.values())
    ]
    if label_foreign:
        entries.append(ClassEntry(len(entries), OTHER_CLASS, None))
    return entries


@dataclass(frozen=True)
class DatasetSummary:
    out_dir: Path
    data_yaml: Path
    classes: list[ClassEntry]
    train_images: int
    val_images: int
    boxes: int


def yolo_label_lines(scene: RenderedScene, class_of: Callable[[str], int | None]) -> list[str]:
    """``class cx cy w h`` lines (normalised to the image), skipping unlabelled products."""
    width, height = scene.image.size
    lines = []
    for obj in scene.objects:
        cls = class_of(obj.product_id)
        if cls is None:
            continue
        x1, y1, x2, y2 = obj.xyxy
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lines.append(
            f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return lines


def write_yolo_dataset(
    planograms: Sequence[Planogram],
    out_dir: Path | str,
    *,
    faces: Mapping[str, Image.Image] | None = None,
    images: int = 200,
    val_fraction: float = 0.15,
    seed: int = 0,
    config: SceneConfig | None = None,
    label_foreign: bool = False,
    single_class: bool = False,
    jpeg_quality: int = 92,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetSummary:
    """Render ``images`` shelf photos of the planograms and write them as a YOLO dataset.

    Renders are independent given ``seed`` and their index, so a dataset is reproducible.
    Products outside the catalogue get class ``other`` with ``label_foreign``, else no label;
    ``single_class`` labels every product as ``product`` (for a class-agnostic detector).
    """
    if images < 2:
        raise ValueError(f"images: need at least 2 (one train, one val), got {images}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: must be between 0 and 1, got {val_fraction}")
    out = Path(out_dir).resolve()
    renderer = ShelfRenderer(planograms, faces, config)
    entries = class_entries(
        [p for pg in planograms for p in pg.products],
        label_foreign=label_foreign,
        single_class=single_class,
    )
    by_product = {e.product_id: e.index for e in entries if e.product_id is not None}
    other = next((e.index for e in entries if e.name == OTHER_CLASS and e.product_id is None), None)

    def class_of(product_id: str) -> int | None:
        if single_class:
            return 0
        return by_product.get(product_id, other)

    val_count = max(1, round(images * val_fraction))
    split_of = ["val" if i < val_count else "train" for i in range(images)]
    for split in ("train", "val"):
        for kind in ("images", "labels", "truth"):
            (out / kind / split).mkdir(parents=True, exist_ok=True)
    boxes = 0
    for index in range(images):
        rng = np.random.default_rng([seed, index])
        scene = renderer.render(rng)
        split = split_of[index]
        stem = f"render_{seed}_{index:05d}"
        scene.image.save(out / "images" / split / f"{stem}.jpg", quality=jpeg_quality)
        lines = yolo_label_lines(scene, class_of)
        boxes += len(lines)
        (out / "labels" / split / f"{stem}.txt").write_text(
            "\n".join(lines) + "\n" if lines else ""
        )
        truth = scene.truth_document() | {"image_file": f"images/{split}/{stem}.jpg"}
        (out / "truth" / split / f"{stem}.json").write_text(json.dumps(truth, indent=1))
        if progress is not None:
            progress(index + 1, images)

    data_yaml = write_dataset_index(out, entries, planograms=[p.id for p in planograms])
    return DatasetSummary(out, data_yaml, entries, images - val_count, val_count, boxes)


def write_dataset_index(out: Path, entries: Sequence[ClassEntry], **about: Any) -> Path:
    """A YOLO dataset's ``data.yaml`` (train/val folders, class names) and ``classes.json``
    (class -> product, plus ``about``: where the images came from). Renders, corrections
    exports and mixed datasets all write this pair; returns the ``data.yaml`` path."""
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {
                "path": str(out),
                "train": "images/train",
                "val": "images/val",
                "names": {e.index: e.name for e in entries},
            },
            sort_keys=False,
            allow_unicode=True,
        )
    )
    document = {"classes": [e.as_dict() for e in entries], **about}
    (out / "classes.json").write_text(json.dumps(document, indent=1))
    return data_yaml
