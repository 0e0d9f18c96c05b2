"""Reproduce the demo model shipped in planograms/models/demo-store.pt.

Renders the demo store's planograms (placeholder packaging where products have no packshot),
trains a narrow YOLOv8n on CPU and publishes the best weights with their label sidecar:

    nice -n 10 .venv/bin/python scripts/train_demo_model.py            # ~30-40 min on 2 CPU cores
    nice -n 10 .venv/bin/python scripts/train_demo_model.py --resume   # continue a cut-off run
    nice -n 10 .venv/bin/python scripts/train_demo_model.py \
        --init-weights planograms/models/demo-store.pt --epochs 40   # how the shipped model was
        # continued; then: shelfscan export planograms/models/demo-store.pt --format openvino
    nice -n 19 .venv/bin/python scripts/train_demo_model.py \
        --init-weights planograms/models/demo-store.pt --seed 7 --images 480 --gap-rate 0.10 \
        --lr0 0.001 --warmup-epochs 1 --hours 0.45 \
        --work var/demo-model-cand --out var/demo-model-cand/demo-store.pt
        # fine-tuning on fresh renders (another seed, more gaps) for a fixed wall time

Everything is seeded; no network access is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.cli.train import collect_planograms  # noqa: E402
from shelfscan.synth.dataset import write_yolo_dataset  # noqa: E402
from shelfscan.synth.packaging import load_front_faces  # noqa: E402
from shelfscan.synth.scene import SceneConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planograms", type=Path, default=ROOT / "planograms" / "demo-store")
    parser.add_argument("--packshots", type=Path, action="append", default=[])
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "demo-model")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "planograms" / "models" / "demo-store.pt"
    )
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="Continue training from these weights (e.g. the shipped model) instead of from "
        "random initialisation; the dataset is re-rendered identically (same seed).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=2024,
        help="Render seed of the dataset (the demo photos use shelfscan.demo.PHOTO_SEED, "
        "which is refused so that they stay unseen).",
    )
    parser.add_argument(
        "--gap-rate",
        type=float,
        default=None,
        help="Share of facings rendered as gaps (default: SceneConfig's).",
    )
    parser.add_argument("--lr0", type=float, default=None, help="Initial learning rate.")
    parser.add_argument("--warmup-epochs", type=float, default=None)
    parser.add_argument(
        "--hours",
        type=float,
        default=None,
        help="Train for this wall time instead of a fixed epoch count (ultralytics' `time`; "
        "the learning-rate schedule is fitted to it).",
    )
    args = parser.parse_args()

    from shelfscan.demo import PHOTO_SEED

    if args.seed == PHOTO_SEED:
        parser.error(f"--seed {PHOTO_SEED} renders the demo photos; pick another seed")

    from shelfscan.training.train import architecture_yaml, publish, train_detector

    data_yaml = args.work / "dataset" / "data.yaml"
    if not args.resume:
        planograms = collect_planograms([args.planograms])
        faces = load_front_faces(
            [p for pg in planograms for p in pg.products],
            search_dirs=[args.planograms, *args.packshots],
        )
        summary = write_yolo_dataset(
            planograms,
            args.work / "dataset",
            faces=faces,
            images=args.images,
            val_fraction=0.15,
            seed=args.seed,
            config=SceneConfig(
                image_size=args.imgsz,
                **({"gap_rate": args.gap_rate} if args.gap_rate is not None else {}),
            ),
            label_foreign=True,
            progress=lambda d, n: print(f"rendered {d}/{n}", flush=True) if d % 50 == 0 else None,
        )
        data_yaml = summary.data_yaml
    overrides = {
        key: value
        for key, value in {
            "lr0": args.lr0,
            "warmup_epochs": args.warmup_epochs,
            "time": args.hours,
        }.items()
        if value is not None
    }
    result = train_detector(
        data_yaml,
        args.work / "run",
        model=args.init_weights or architecture_yaml(args.work, width=args.width),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        workers=1,
        resume=args.resume,
        seed=0,
        progress=lambda e, n, m: print(
            f"epoch {e}/{n}: mAP50 {m.get('metrics/mAP50(B)', 0):.3f}", flush=True
        ),
        **overrides,
    )
    published = publish(result.weights, args.out)
    print(
        f"held-out renders: mAP50 {result.metrics.map50:.3f}, "
        f"mAP50-95 {result.metrics.map50_95:.3f} ({result.metrics.evaluated_on})"
    )
    print(
        f"published {published} ({published.stat().st_size / 1e6:.1f} MB) "
        f"after {result.seconds / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
