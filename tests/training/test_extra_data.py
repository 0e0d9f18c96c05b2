"""``shelfscan train --extra-data DIR``: reviewed field photos (the layout of
``shelfscan corrections export --format yolo``) mixed with renders in one class map."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from shelfscan.synth.dataset import DatasetSummary, write_yolo_dataset
from shelfscan.synth.scene import SceneConfig
from shelfscan.training.mix import mix_datasets
from tests.training.conftest import tiny_planogram


@pytest.fixture
def renders(tmp_path: Path) -> DatasetSummary:
    return write_yolo_dataset(
        [tiny_planogram()],
        tmp_path / "renders",
        images=3,
        val_fraction=0.34,
        config=SceneConfig(image_size=96),
        seed=3,
    )


def field_dataset(root: Path) -> Path:
    """Two reviewed photos as the corrections export writes them: its own class order (chips
    first, a product the renders never saw), one photo in train, one in val."""
    classes = [
        {"index": 0, "name": "Salt Chips", "product_id": "chips", "gtin": None},
        {"index": 1, "name": "Oat Rings Limited", "product_id": "new-oat-rings", "gtin": None},
        {"index": 2, "name": "Cola 330ml", "product_id": "cola", "gtin": None},
    ]
    labels = {
        "train": "0 0.25 0.5 0.2 0.4\n1 0.75 0.5 0.2 0.4\n",
        "val": "2 0.5 0.5 0.3 0.3\n",
    }
    for split, text in labels.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        Image.new("RGB", (80, 60), (120, 90, 60)).save(
            root / "images" / split / f"field_{split}.jpg"
        )
        (root / "labels" / split / f"field_{split}.txt").write_text(text)
    (root / "data.yaml").write_text(
        yaml.safe_dump(
            {
                "path": str(root),
                "train": "images/train",
                "val": "images/val",
                "names": {c["index"]: c["name"] for c in classes},
            }
        )
    )
    (root / "classes.json").write_text(json.dumps({"classes": classes}))
    return root


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def test_mix_includes_the_extra_images_in_the_renders_class_map(
    renders: DatasetSummary, tmp_path: Path
) -> None:
    extra = field_dataset(tmp_path / "field")
    mixed = mix_datasets(renders.data_yaml, [extra], tmp_path / "mixed", repeat=3)
    base_index = {c.product_id: c.index for c in renders.classes}
    mixed_index = {c.product_id: c.index for c in mixed.classes}
    # The renders' classes keep their indices; the new product is appended.
    assert [c.as_dict() for c in mixed.classes[: len(renders.classes)]] == [
        c.as_dict() for c in renders.classes
    ]
    assert mixed_index["new-oat-rings"] == len(renders.classes)
    assert mixed.added_classes == ["Oat Rings Limited"]

    train = sorted(p.name for p in (mixed.out_dir / "images" / "train").iterdir())
    val = sorted(p.name for p in (mixed.out_dir / "images" / "val").iterdir())
    field_train = [n for n in train if "field_train" in n]
    assert len(field_train) == 3  # repeated
    assert [n for n in val if "field_val" in n] == ["extra1_field_val.jpg"]
    assert len(train) == renders.train_images + 3
    assert len(val) == renders.val_images + 1
    assert mixed.images == {"train": len(train), "val": len(val)}
    assert mixed.extra_images == {"train": 3, "val": 1}
    for name in field_train:
        image = mixed.out_dir / "images" / "train" / name
        assert Image.open(image).size == (80, 60)
        label = mixed.out_dir / "labels" / "train" / f"{Path(name).stem}.txt"
        assert [row[0] for row in _lines(label)] == [
            str(base_index["chips"]),
            str(mixed_index["new-oat-rings"]),
        ]
    val_label = mixed.out_dir / "labels" / "val" / "extra1_field_val.txt"
    assert _lines(val_label) == [[str(base_index["cola"]), "0.5", "0.5", "0.3", "0.3"]]
    # Render labels are carried over unchanged.
    for label in (renders.out_dir / "labels" / "train").glob("*.txt"):
        assert (mixed.out_dir / "labels" / "train" / label.name).read_text() == label.read_text()

    spec = yaml.safe_load(mixed.data_yaml.read_text())
    assert spec["path"] == str(mixed.out_dir)
    assert spec["names"] == {c.index: c.name for c in mixed.classes}
    written = json.loads((mixed.out_dir / "classes.json").read_text())
    assert [c["product_id"] for c in written["classes"]] == [c.product_id for c in mixed.classes]
    assert written["mixed"]["extra_images"] == {"train": 3, "val": 1}


def test_mix_names_a_label_with_an_unknown_class(renders: DatasetSummary, tmp_path: Path) -> None:
    extra = field_dataset(tmp_path / "field")
    (extra / "labels" / "train" / "field_train.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match=r"field_train\.txt:1: class 7"):
        mix_datasets(renders.data_yaml, [extra], tmp_path / "mixed")
    with pytest.raises(ValueError, match=r"no data\.yaml"):
        mix_datasets(renders.data_yaml, [tmp_path / "nowhere"], tmp_path / "mixed")


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args[1:]!r}")


def test_train_command_mixes_extra_data_in_a_one_epoch_run(
    renders: DatasetSummary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelfscan.cli.train import app
    from shelfscan.training.train import read_metadata

    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    extra = field_dataset(tmp_path / "field")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(renders.data_yaml),
            "--out",
            str(out),
            "--extra-data",
            str(extra),
            "--width",
            "0.0625",
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(1 extra) images" in result.output and "new: Oat Rings Limited" in result.output
    weights = next(out.glob("train/weights/best.pt"))
    record = read_metadata(weights)
    assert record["classes"]["Oat Rings Limited"] == "new-oat-rings"
    assert record["training"]["data"] == str(out / "dataset" / "data.yaml")
    assert "and 1 extra images" in record["metrics"]["evaluated_on"]
