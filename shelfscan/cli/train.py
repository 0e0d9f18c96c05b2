"""CLI for synthetic data and detector training: ``render``, ``train``, ``export``.

Wired by the main CLI as ``shelfscan synth render``, ``shelfscan train`` and
``shelfscan export``; each command is also a plain function for registering on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.model import Planogram

app = typer.Typer(
    help="Render synthetic shelf photos, train and export detectors.", no_args_is_help=True
)


def load_planogram_file(path: Path) -> Planogram:
    """A canonical planogram JSON, or an Azure planogram JSON (camelCase or PascalCase)."""
    from pydantic import ValidationError

    from shelfscan.planogram.azure_json import import_azure_planogram

    text = path.read_text(encoding="utf-8")
    try:
        return Planogram.model_validate_json(text)
    except ValidationError as canonical_error:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"{path}: not JSON ({exc})") from exc
        try:
            return import_azure_planogram(document, planogram_id=path.stem, name=path.stem)
        except PlanogramError:
            raise typer.BadParameter(
                f"{path}: neither a canonical nor an Azure planogram: {canonical_error}"
            ) from canonical_error


def collect_planograms(paths: list[Path]) -> list[Planogram]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"{path}: no such file or directory")
    if not files:
        raise typer.BadParameter("no planogram JSON files given")
    return [load_planogram_file(f) for f in files]


@app.command("render")
def render_command(
    planograms: list[Path] = typer.Argument(..., help="Planogram JSON files or folders"),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write"),
    images: int = typer.Option(200, min=2, help="Number of renders"),
    packshots: list[Path] = typer.Option([], "--packshots", help="Folders with packshot images"),
    image_size: int = typer.Option(640, min=64, help="Longest side of each render, pixels"),
    val_fraction: float = typer.Option(0.15, min=0.01, max=0.9),
    seed: int = typer.Option(0),
    label_foreign: bool = typer.Option(False, help="Label non-catalogue products as 'other'"),
    single_class: bool = typer.Option(False, help="One 'product' class for every product"),
    clean: bool = typer.Option(False, help="No deviations or photographic degradation"),
) -> None:
    """Render shelf photos of planograms as a YOLO dataset with per-facing truth."""
    from shelfscan.synth.dataset import write_yolo_dataset
    from shelfscan.synth.packaging import load_front_faces
    from shelfscan.synth.scene import SceneConfig

    loaded = collect_planograms(planograms)
    faces = load_front_faces([p for pg in loaded for p in pg.products], search_dirs=packshots)
    config = SceneConfig.clean(image_size) if clean else SceneConfig(image_size=image_size)
    step = max(1, images // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            typer.echo(f"rendered {done}/{total}")

    summary = write_yolo_dataset(
        loaded,
        out,
        faces=faces,
        images=images,
        val_fraction=val_fraction,
        seed=seed,
        config=config,
        label_foreign=label_foreign,
        single_class=single_class,
        progress=progress,
    )
    typer.echo(
        f"{summary.train_images} train + {summary.val_images} val images, "
        f"{summary.boxes} boxes, {len(summary.classes)} classes -> {summary.data_yaml}"
    )


@app.command("train")
def train_command(
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="Dataset data.yaml"),
    out: Path = typer.Option(Path("runs/shelf"), "--out", "-o", help="Run folder"),
    model: str = typer.Option("yolov8n.yaml", help="Architecture YAML or a local .pt"),
    width: float | None = typer.Option(
        None,
        help="Narrow the YOLOv8 architecture to this "
        "width multiple (e.g. 0.125 for a ~1.5 MB model)",
    ),
    epochs: int = typer.Option(60, min=1),
    imgsz: int = typer.Option(640, min=32),
    batch: int = typer.Option(16, min=1),
    device: str = typer.Option("cpu", help="cpu, 0, cuda:0 …"),
    workers: int = typer.Option(2, min=0),
    resume: bool = typer.Option(False, help="Continue the run in --out where it stopped"),
    publish: Path | None = typer.Option(None, help="Copy the best weights (+ label sidecar) here"),
    extra_data: list[Path] = typer.Option(
        [],
        "--extra-data",
        help="A YOLO dataset to mix with the renders, e.g. reviewed field photos from "
        "'shelfscan corrections export --format yolo' (repeatable)",
    ),
    extra_repeat: int = typer.Option(
        1, min=1, help="Use each extra training image this many times"
    ),
) -> None:
    """Train a shelf detector (offline; nothing is downloaded)."""
    from shelfscan.training.train import architecture_yaml, train_detector
    from shelfscan.training.train import publish as publish_weights

    if extra_data and not resume:
        from shelfscan.training.mix import mix_datasets

        try:
            mixed = mix_datasets(data, extra_data, out / "dataset", repeat=extra_repeat)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--extra-data") from error
        typer.echo(
            f"mixed dataset {mixed.data_yaml}: {mixed.images['train']} train "
            f"({mixed.extra_images['train']} extra) + {mixed.images['val']} val "
            f"({mixed.extra_images['val']} extra) images, {len(mixed.classes)} classes"
            + (f" (new: {', '.join(mixed.added_classes)})" if mixed.added_classes else "")
        )
        data = mixed.data_yaml

    architecture: str | Path = model
    if width is not None:
        if model.endswith(".pt"):
            raise typer.BadParameter("--width applies to an architecture YAML, not to a .pt")
        architecture = architecture_yaml(out, width=width)

    def progress(epoch: int, total: int, metrics: dict[str, float]) -> None:
        typer.echo(
            f"epoch {epoch}/{total}: mAP50 {metrics.get('metrics/mAP50(B)', 0):.3f} "
            f"mAP50-95 {metrics.get('metrics/mAP50-95(B)', 0):.3f}"
        )

    result = train_detector(
        data,
        out,
        model=architecture,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        workers=workers,
        resume=resume,
        progress=progress,
    )
    typer.echo(
        f"best weights {result.weights} ({result.seconds / 60:.1f} min): held-out "
        f"mAP50 {result.metrics.map50:.3f}, mAP50-95 {result.metrics.map50_95:.3f}"
    )
    if publish is not None:
        typer.echo(f"published {publish_weights(result.weights, publish)}")


@app.command("export")
def export_command(
    weights: Path = typer.Argument(..., exists=True, dir_okay=False, help="Trained .pt"),
    export_format: str = typer.Option("onnx", "--format", help="onnx or openvino"),
    imgsz: int | None = typer.Option(None, help="Default: the training image size"),
    dynamic: bool = typer.Option(
        False,
        "--dynamic",
        help="Dynamic input shapes: each photo is fed a rectangle fitted to it instead of the "
        "square (less inference on non-square photos; boxes can differ slightly)",
    ),
) -> None:
    """Export a trained detector to ONNX or OpenVINO."""
    from shelfscan.training.export import ExportDependencyError, ExportFormat, export_model

    try:
        fmt = ExportFormat(export_format)
    except ValueError as exc:
        raise typer.BadParameter(
            f"--format: expected onnx or openvino, got {export_format!r}", param_hint="--format"
        ) from exc
    try:
        path = export_model(weights, fmt, imgsz=imgsz, dynamic=dynamic)
    except ExportDependencyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"exported {path}")
