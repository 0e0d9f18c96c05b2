"""Train a shelf detector with ultralytics, offline, with defaults that suit shelves.

Shelves are dense scenes of small, upright objects with text on them: a large image size, a high
detection cap, no flips (mirrored text is not a real product) and little rotation. Training never
downloads anything: models are built from YAML (random initialisation) unless a local ``.pt`` is
given, plots are off (they fetch a font) and ultralytics runs in offline mode.

What the model learnt and how well it did is recorded twice: inside the checkpoint under the
``shelfscan`` key, and in a ``<weights>.labels.json`` sidecar that the detection backend reads
(a label map: class name -> product id, the full class entries with names and GTINs, and mAP on
held-out renders).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shelfscan.offline import import_ultralytics  # sets ultralytics offline before import

SIDECAR_FORMAT = "shelfscan-model-labels/1"

# Augmentations for shelf photos. The renderer already does perspective, lighting, blur and
# noise; these add scale/translation variety and mosaic for dense small objects.
SHELF_AUGMENTATION: dict[str, Any] = {
    "fliplr": 0.0,  # mirrored packs are not the product
    "flipud": 0.0,
    "degrees": 2.0,
    "shear": 0.0,
    "perspective": 0.0,
    "translate": 0.1,
    "scale": 0.35,
    "mosaic": 1.0,
    "mixup": 0.0,
    "hsv_h": 0.01,  # hue identifies products: keep it nearly fixed
    "hsv_s": 0.5,
    "hsv_v": 0.4,
}


@dataclass
class TrainMetrics:
    map50: float
    map50_95: float
    precision: float
    recall: float
    evaluated_on: str

    @classmethod
    def from_validator(cls, metrics: Any, evaluated_on: str) -> TrainMetrics:
        box = metrics.box
        return cls(float(box.map50), float(box.map), float(box.mp), float(box.mr), evaluated_on)


@dataclass
class TrainResult:
    weights: Path  # best checkpoint, with the shelfscan metadata written in
    last: Path
    run_dir: Path
    metrics: TrainMetrics
    classes: list[dict[str, Any]]
    seconds: float
    sidecar: Path
    args: dict[str, Any] = field(default_factory=dict)


def architecture_yaml(
    out_dir: Path,
    *,
    base: str = "yolov8",
    depth: float = 0.33,
    width: float = 0.25,
    max_channels: int = 1024,
) -> Path:
    """A copy of an ultralytics architecture with its own scale, e.g. a narrower YOLOv8n.

    The file name carries the ``n`` scale letter, which is how ultralytics picks a scale.
    """
    ultralytics = import_ultralytics()
    source = Path(ultralytics.__file__).parent / "cfg" / "models" / base[-2:] / f"{base}.yaml"
    if not source.is_file():
        raise FileNotFoundError(f"architecture {base!r}: no {source}")
    spec = yaml.safe_load(source.read_text())
    spec["scales"] = {"n": [depth, width, max_channels]}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shelf-{base}n-w{int(width * 1000):03d}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _load_classes(data_yaml: Path) -> list[dict[str, Any]]:
    """Class entries from the dataset's ``classes.json`` (written by the renderer), else from
    ``data.yaml`` names alone."""
    classes_json = data_yaml.parent / "classes.json"
    if classes_json.is_file():
        return json.loads(classes_json.read_text())["classes"]
    names = yaml.safe_load(data_yaml.read_text()).get("names", {})
    items = names.items() if isinstance(names, dict) else enumerate(names)
    return [{"index": int(i), "name": n, "product_id": None, "gtin": None} for i, n in items]


def train_detector(
    data_yaml: Path | str,
    out_dir: Path | str,
    *,
    model: str | Path = "yolov8n.yaml",
    epochs: int = 60,
    imgsz: int = 640,
    batch: int = 16,
    device: str = "cpu",
    resume: bool = False,
    workers: int = 2,
    patience: int = 30,
    seed: int = 0,
    max_det: int = 1000,
    optimizer: str = "AdamW",
    lr0: float = 0.002,
    augmentation: dict[str, Any] | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train (or resume) a detector on a YOLO dataset; returns the best weights and metrics.

    ``model`` is an architecture YAML (random init, nothing downloaded) or a local ``.pt`` to
    fine-tune. ``resume`` continues ``out_dir/train/weights/last.pt`` where it stopped.
    ``overrides`` go to ultralytics as training arguments.
    """
    import_ultralytics()
    from ultralytics import YOLO

    data_yaml = Path(data_yaml).resolve()
    out_dir = Path(out_dir).resolve()
    if not data_yaml.is_file():
        raise FileNotFoundError(f"data_yaml: {data_yaml} does not exist")
    run_dir = out_dir / "train"
    last = run_dir / "weights" / "last.pt"
    started = time.monotonic()

    if resume:
        if not last.is_file():
            raise FileNotFoundError(f"resume: no checkpoint at {last}")
        detector = YOLO(str(last))
        args: dict[str, Any] = {"resume": True}
    else:
        model_path = Path(model)
        if model_path.suffix == ".pt" and not model_path.is_file():
            raise FileNotFoundError(f"model: {model_path} does not exist (nothing is downloaded)")
        detector = YOLO(str(model))
        args = {
            "data": str(data_yaml),
            "epochs": epochs,
            "imgsz": imgsz,
            "batch": batch,
            "device": device,
            "workers": workers,
            "patience": patience,
            "seed": seed,
            "project": str(out_dir),
            "name": "train",
            "exist_ok": True,
            "plots": False,  # plotting fetches Arial.ttf
            "amp": False,  # the AMP check downloads weights; CPU gains nothing from it
            "max_det": max_det,
            # ultralytics' "auto" optimizer scales the learning rate down with the class
            # count (0.0002 for 46 products), which barely moves a from-scratch model in the
            # few epochs a CPU run affords; a fixed AdamW rate learns products far sooner.
            "optimizer": optimizer,
            "lr0": lr0,
            "cache": False,
            "verbose": False,
            "val": True,
            **SHELF_AUGMENTATION,
            **(augmentation or {}),
            **overrides,
        }

    if progress is not None:

        def on_epoch_end(trainer: Any) -> None:
            if trainer.epoch + 1 > trainer.epochs:  # the final re-validation fires it again
                return
            metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
            progress(trainer.epoch + 1, trainer.epochs, metrics)

        detector.add_callback("on_fit_epoch_end", on_epoch_end)

    detector.train(**args)
    trainer = detector.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)

    # Held-out renders: the validation split, scored on the best weights (ultralytics'
    # final evaluation already did that; its numbers are in trainer.metrics).
    val_images = len(list((data_yaml.parent / "images" / "val").glob("*")))
    # A mix with extra data (shelfscan.training.mix) says how many are not renders.
    extra_val = _extra_val_images(data_yaml)
    final = trainer.metrics or {}
    evaluated_on = f"{val_images - extra_val} held-out renders" + (
        f" and {extra_val} extra images" if extra_val else ""
    )
    evaluated_on += f" ({data_yaml.parent.name}/images/val)"
    if "metrics/mAP50(B)" in final:
        metrics = TrainMetrics(
            map50=float(final["metrics/mAP50(B)"]),
            map50_95=float(final["metrics/mAP50-95(B)"]),
            precision=float(final["metrics/precision(B)"]),
            recall=float(final["metrics/recall(B)"]),
            evaluated_on=evaluated_on,
        )
    else:
        metrics = TrainMetrics.from_validator(
            YOLO(str(best)).val(
                data=str(data_yaml),
                imgsz=trainer.args.imgsz,
                batch=batch,
                device=device,
                max_det=max_det,
                plots=False,
                verbose=False,
                workers=0,
                project=str(out_dir),
                name="val",
                exist_ok=True,
            ),
            evaluated_on,
        )
    classes = _load_classes(data_yaml)
    training_args = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(trainer.args).items()
        if isinstance(v, str | int | float | bool | Path | type(None))
    }
    record = {
        "format": SIDECAR_FORMAT,
        # Readable as a detection label map: class name -> product id. Classes without a
        # product (``other``, ``product``) are left out so they surface as unexpected products.
        "classes": {c["name"]: c["product_id"] for c in classes if c.get("product_id")},
        "class_entries": classes,
        "metrics": asdict(metrics),
        "training": {
            "data": str(data_yaml),
            "seconds": round(time.monotonic() - started, 1),
            "args": training_args,
        },
    }
    write_metadata(best, record)
    return TrainResult(
        weights=best,
        last=last,
        run_dir=run_dir,
        metrics=metrics,
        classes=classes,
        seconds=time.monotonic() - started,
        sidecar=sidecar_path(best),
        args=training_args,
    )


def _extra_val_images(data_yaml: Path) -> int:
    classes_json = data_yaml.parent / "classes.json"
    if not classes_json.is_file():
        return 0
    mixed = json.loads(classes_json.read_text()).get("mixed") or {}
    return int(mixed.get("extra_images", {}).get("val", 0))


def sidecar_path(weights: Path | str) -> Path:
    weights = Path(weights)
    return weights.with_name(f"{weights.stem}.labels.json")


def write_metadata(weights: Path, record: dict[str, Any]) -> None:
    """Store ``record`` inside the checkpoint (key ``shelfscan``) and as a JSON sidecar."""
    import torch

    checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
    checkpoint["shelfscan"] = record
    torch.save(checkpoint, weights)
    sidecar_path(weights).write_text(json.dumps(record, indent=1, default=str))


def read_metadata(weights: Path | str) -> dict[str, Any]:
    """The shelfscan record of a model: the sidecar if present, else the checkpoint's."""
    weights = Path(weights)
    sidecar = sidecar_path(weights)
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    if weights.suffix == ".pt":
        import torch

        checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
        if isinstance(checkpoint, dict) and "shelfscan" in checkpoint:
            return checkpoint["shelfscan"]
    raise FileNotFoundError(f"{weights}: no shelfscan metadata (no {sidecar.name}, none inside)")


def publish(weights: Path | str, destination: Path | str) -> Path:
    """Copy trained weights and their sidecar to ``destination`` (e.g. planograms/models/x.pt)."""
    weights, destination = Path(weights), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, destination)
    record = read_metadata(weights)
    sidecar_path(destination).write_text(json.dumps(record, indent=1, default=str))
    return destination
