"""Per-image latency and peak memory of the local YOLO backend on this machine's CPU.

Compares PyTorch (.pt), ONNX Runtime (.onnx) and OpenVINO at 640, 1024 and 1280 px and sliced
inference on a 12-megapixel photo. Every configuration runs in its own process so that its peak
resident memory (ru_maxrss) is its own. Exports that need packages which are not installed
(``onnx`` for ONNX export, ``openvino``) are reported as skipped, not faked.

    .venv/bin/python benchmarks/detector_speed.py                 # yolov8n-sized random weights
    .venv/bin/python benchmarks/detector_speed.py --model best.pt --runs 5

Random weights have the same cost as trained ones (same network), but only a trained model says
anything about accuracy; with one, ``agreement`` compares each path's boxes with PyTorch's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402

SAMPLE_PHOTO = AZURE_SAMPLE_DIR / "sample_image.jpg"


def twelve_megapixel_photo(path: Path, source: Path = SAMPLE_PHOTO) -> Path:
    from PIL import Image

    if source.exists():
        with Image.open(source) as sample:
            image = sample.convert("RGB").resize((3000, 4000), Image.Resampling.BICUBIC)
    else:  # textured noise, so JPEG size and decoding are realistic
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (4000, 3000, 3), dtype=np.uint8))
    image.save(path, quality=92)
    return path


def random_weights_model(path: Path, classes: int = 60) -> Path:
    import torch
    from ultralytics import __version__
    from ultralytics.nn.tasks import DetectionModel

    import shelfscan.offline  # noqa: F401

    torch.manual_seed(0)
    network = DetectionModel("yolov8n.yaml", nc=classes, verbose=False)
    network.names = {i: f"product-{i}" for i in range(classes)}
    torch.save(
        {"model": network.half(), "train_args": {}, "date": "bench", "version": __version__}, path
    )
    return path


def try_export(model: Path, fmt: str, size: int) -> tuple[Path | None, str]:
    needed = {"onnx": "onnx", "openvino": "openvino"}[fmt]
    try:
        __import__(needed)
    except ImportError:
        return None, f"skipped: the '{needed}' package is not installed"
    from ultralytics import YOLO

    exported = YOLO(str(model)).export(format=fmt, imgsz=size, dynamic=False, verbose=False)
    return Path(exported), ""


def worker(config: dict) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    from PIL import Image

    from shelfscan.detection.slicing import SlicingConfig
    from shelfscan.detection.yolo import YoloDetector

    slicing = (
        SlicingConfig(tile_size=config["size"], overlap=0.25, min_image_side=2000)
        if config["sliced"]
        else None
    )
    started = time.perf_counter()
    detector = YoloDetector(
        config["model"],
        image_size=config["size"],
        confidence_threshold=0.25,
        max_detections=1000,
        slicing=slicing,
    )
    load_s = time.perf_counter() - started
    with Image.open(config["photo"]) as opened:
        photo = opened.convert("RGB")
    latencies, boxes = [], []
    for _ in range(config["runs"]):
        t = time.perf_counter()
        detections = detector.detect(photo)
        latencies.append(time.perf_counter() - t)
        boxes = detections.xyxy.tolist()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "load_s": load_s,
        "median_s": float(np.median(latencies)),
        "min_s": float(np.min(latencies)),
        "peak_mb": peak_mb,
        "boxes": boxes,
        "tiles": detections.timings_ms.get("tiles", 1),
    }


def run_isolated(config: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "false"},
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(boxes: list, reference: list) -> float:
    """Share of reference boxes matched (IoU >= 0.9) by a box of the other path."""
    if not reference:
        return 1.0 if not boxes else 0.0
    from shelfscan.detection.slicing import overlaps

    other = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if not len(other):
        return 0.0
    hits = [overlaps(np.asarray(box, float), other)[0].max() >= 0.9 for box in reference]
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", type=Path, help=".pt model (default: yolov8n-sized random)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 1024, 1280])
    parser.add_argument("--slice-size", type=int, default=1024)
    parser.add_argument(
        "--photo",
        type=Path,
        default=SAMPLE_PHOTO,
        help="Photo to upscale to 12 MP (use one the model knows, e.g. a demo-store photo)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    workdir = Path(tempfile.mkdtemp(prefix="shelfscan-bench-"))
    photo = twelve_megapixel_photo(workdir / "photo-12mp.jpg", args.photo)
    if args.model:  # exports land next to the weights: keep them out of the source tree
        model = Path(shutil.copy(args.model, workdir / args.model.name))
    else:
        model = random_weights_model(workdir / "yolov8n-random.pt")
    print(f"CPU cores: {os.cpu_count()}  photo: 3000x4000 (12 MP)  model: {model.name}")
    print(
        f"{'path':<28}{'size':>6}{'tiles':>7}{'load s':>8}{'median s':>10}{'min s':>8}"
        f"{'peak MB':>9}{'boxes':>7}{'agree':>7}"
    )
    rows: list[tuple[str, int, dict]] = []
    for size in args.sizes:
        reference = None
        for fmt in ("pytorch", "onnx", "openvino"):
            path, note = (model, "") if fmt == "pytorch" else try_export(model, fmt, size)
            if path is None:
                print(f"{fmt:<28}{size:>6}  {note}")
                continue
            result = run_isolated(
                {
                    "model": str(path),
                    "size": size,
                    "sliced": False,
                    "runs": args.runs,
                    "photo": str(photo),
                }
            )
            _print_row(fmt, size, result, reference)
            if fmt == "pytorch" and "error" not in result:
                reference = result["boxes"]
            rows.append((fmt, size, result))
    sliced = run_isolated(
        {
            "model": str(model),
            "size": args.slice_size,
            "sliced": True,
            "runs": max(1, args.runs - 1),
            "photo": str(photo),
        }
    )
    _print_row("pytorch sliced + full pass", args.slice_size, sliced, None)
    rows.append(("pytorch sliced", args.slice_size, sliced))
    ok = [(fmt, size, r) for fmt, size, r in rows if "error" not in r and fmt != "pytorch sliced"]
    if ok:
        fastest = min(ok, key=lambda row: row[2]["median_s"] / (row[1] ** 2))
        print(f"fastest per input pixel: {fastest[0]} at {fastest[1]} px")


def _print_row(name: str, size: int, result: dict, reference: list | None) -> None:
    if "error" in result:
        print(f"{name:<28}{size:>6}  error: {result['error']}")
        return
    agree = "" if reference is None else f"{agreement(result['boxes'], reference):.2f}"
    print(
        f"{name:<28}{size:>6}{int(result['tiles']):>7}{result['load_s']:>8.2f}"
        f"{result['median_s']:>10.3f}{result['min_s']:>8.3f}{result['peak_mb']:>9.0f}"
        f"{len(result['boxes']):>7}{agree:>7}"
    )


if __name__ == "__main__":
    main()
