from __future__ import annotations

import json

import pytest
import yaml

from shelfscan.synth.dataset import OTHER_CLASS, class_entries, write_yolo_dataset
from shelfscan.synth.scene import SceneConfig


def _read_labels(path):
    return [list(map(float, line.split())) for line in path.read_text().splitlines() if line]


def test_dataset_layout_labels_and_truth_agree(planogram, tmp_path):
    summary = write_yolo_dataset(
        [planogram],
        tmp_path / "ds",
        images=6,
        val_fraction=0.34,
        seed=3,
        config=SceneConfig(image_size=192),
    )
    data = yaml.safe_load(summary.data_yaml.read_text())
    assert data["names"] == {0: "Cola 330ml", 1: "Lemonade 330ml", 2: "Salt Chips"}
    assert (summary.train_images, summary.val_images) == (4, 2)
    classes = json.loads((tmp_path / "ds" / "classes.json").read_text())["classes"]
    assert [c["product_id"] for c in classes] == ["cola", "lemon", "chips"]
    total = 0
    for split, count in (("train", 4), ("val", 2)):
        images = sorted((tmp_path / "ds" / "images" / split).glob("*.jpg"))
        assert len(images) == count
        for image in images:
            labels = _read_labels(tmp_path / "ds" / "labels" / split / f"{image.stem}.txt")
            truth = json.loads(
                (tmp_path / "ds" / "truth" / split / f"{image.stem}.json").read_text()
            )
            catalogue = [
                o for o in truth["objects"] if o["product_id"] in {"cola", "lemon", "chips"}
            ]
            # Foreign products are not labelled without label_foreign.
            assert len(labels) == len(catalogue)
            for (cls, cx, cy, w, h), obj in zip(labels, catalogue, strict=True):
                assert classes[int(cls)]["product_id"] == obj["product_id"]
                assert 0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1
                x1, _y1, x2, _y2 = obj["xyxy"]
                iw, _ih = truth["image"]["width"], truth["image"]["height"]
                assert cx == pytest.approx((x1 + x2) / 2 / iw, abs=0.01)
            total += len(labels)
    assert total == summary.boxes > 0


def test_label_foreign_adds_an_other_class(planogram, tmp_path):
    config = SceneConfig(image_size=160, neighbour_rate=1.0, foreign_rate=1.0)
    summary = write_yolo_dataset(
        [planogram], tmp_path, images=3, label_foreign=True, config=config, seed=1
    )
    assert summary.classes[-1].name == OTHER_CLASS
    other = summary.classes[-1].index
    labelled = [
        line for f in (tmp_path / "labels").rglob("*.txt") for line in f.read_text().splitlines()
    ]
    assert any(line.startswith(f"{other} ") for line in labelled)


def test_single_class_dataset(planogram, tmp_path):
    summary = write_yolo_dataset(
        [planogram], tmp_path, images=2, single_class=True, config=SceneConfig.clean(128)
    )
    assert [c.name for c in summary.classes] == ["product"]
    lines = [
        line for f in (tmp_path / "labels").rglob("*.txt") for line in f.read_text().splitlines()
    ]
    assert lines and all(line.startswith("0 ") for line in lines)


def test_duplicate_names_are_disambiguated(planogram):
    from shelfscan.planogram.model import Product

    products = [*planogram.products, Product(id="cola2", name="Cola 330ml", w=6, h=12)]
    names = [c.name for c in class_entries(products)]
    assert names[0] == "Cola 330ml (cola)" and names[-1] == "Cola 330ml (cola2)"


def test_bad_arguments_are_named(planogram, tmp_path):
    with pytest.raises(ValueError, match="images"):
        write_yolo_dataset([planogram], tmp_path, images=1)
    with pytest.raises(ValueError, match="val_fraction"):
        write_yolo_dataset([planogram], tmp_path, images=4, val_fraction=1.5)
