"""Real-world check: train on renders of the Azure sample only, evaluate on the real photo.

Uses only the 13 packshots in the sample's catalog/ and sample_planogram.json for training (no
real photo), then scores detections on sample_image.jpg against the Azure custom model's boxes
(sample_customized_recognition_result.json, products only) and prints:

- mAP50 (all-point AP per product class, IoU 0.5, averaged over classes in the reference),
- the share of reference products found with the right label (IoU >= 0.5, top label),
- the same two numbers after the packshot recognition step re-labels every box.

Stages are cached in --work, so a rerun with --skip-train only re-evaluates:

    nice -n 10 .venv/bin/python benchmarks/real_photo.py --images 240 --epochs 20
    .venv/bin/python benchmarks/real_photo.py --skip-train
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.planogram.azure_json import import_azure_planogram  # noqa: E402
from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402
from shelfscan.synth.dataset import write_yolo_dataset  # noqa: E402
from shelfscan.synth.packaging import load_front_faces  # noqa: E402
from shelfscan.synth.recognition import PackshotRecogniser  # noqa: E402
from shelfscan.synth.scene import SceneConfig  # noqa: E402

SAMPLE = AZURE_SAMPLE_DIR
CHAIN_MIN_CONFIDENCE = 0.25


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def average_precision(pred_boxes, pred_scores, gt_boxes, threshold=0.5) -> float:
    """All-point interpolated AP for one class (greedy matching by confidence)."""
    if len(gt_boxes) == 0:
        return float("nan")
    if len(pred_boxes) == 0:
        return 0.0
    order = np.argsort(-pred_scores)
    ious = iou_matrix(pred_boxes[order], gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    tp = np.zeros(len(order))
    for i in range(len(order)):
        candidates = np.where(~taken, ious[i], -1)
        j = int(candidates.argmax())
        if candidates[j] >= threshold:
            taken[j] = True
            tp[i] = 1
    recall = np.cumsum(tp) / len(gt_boxes)
    precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    mrec = np.concatenate([[0], recall, [1]])
    mpre = np.concatenate([[1], precision, [0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def evaluate(pred_boxes, pred_labels, pred_scores, gt_boxes, gt_labels) -> dict[str, float]:
    pred_labels, gt_labels = np.asarray(pred_labels, object), np.asarray(gt_labels, object)
    aps = {}
    for label in sorted(set(gt_labels)):
        p, g = pred_labels == label, gt_labels == label
        aps[label] = average_precision(pred_boxes[p], pred_scores[p], gt_boxes[g])
    correct = 0
    if len(pred_boxes):
        ious = iou_matrix(gt_boxes, pred_boxes)
        for i in range(len(gt_boxes)):
            j = int(ious[i].argmax())
            correct += bool(ious[i, j] >= 0.5 and pred_labels[j] == gt_labels[i])
    agnostic = average_precision(pred_boxes, pred_scores, gt_boxes)
    return {
        "map50": float(np.nanmean(list(aps.values()))),
        "correct_share": correct / len(gt_boxes),
        "agnostic_ap50": agnostic,
        "per_class": aps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-real-photo")
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--width", type=float, default=0.25, help="YOLOv8 width multiple")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--conf", type=float, default=0.05)
    parser.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        help="start from these weights (e.g. an earlier run's best.pt) instead of scratch",
    )
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument(
        "--infer-sizes",
        default="",
        help="comma-separated inference image sizes to evaluate (default: the training size); "
        "the first one is the headline and runs the whole chain",
    )
    parser.add_argument(
        "--per-product-classes",
        action="store_true",
        help="train one class per product instead of a class-agnostic detector",
    )
    args = parser.parse_args()

    planogram = import_azure_planogram(
        json.loads((SAMPLE / "sample_planogram.json").read_text()), planogram_id="azure-sample"
    )
    names = {p.id: p.name for p in planogram.products}
    faces = load_front_faces(planogram.products, search_dirs=[SAMPLE / "catalog"])
    photo = ImageOps.exif_transpose(Image.open(SAMPLE / "sample_image.jpg")).convert("RGB")
    reference = json.loads((SAMPLE / "sample_customized_recognition_result.json").read_text())
    gt = reference["products"]
    gt_boxes = np.array(
        [
            [
                b["boundingBox"]["x"],
                b["boundingBox"]["y"],
                b["boundingBox"]["x"] + b["boundingBox"]["w"],
                b["boundingBox"]["y"] + b["boundingBox"]["h"],
            ]
            for b in gt
        ],
        float,
    )
    gt_labels = [b["tags"][0]["name"] for b in gt]
    recogniser = PackshotRecogniser(faces, aspects={p.id: p.w / p.h for p in planogram.products})

    # The recognition step alone, on the reference boxes: its ceiling on label accuracy.
    ranked = recogniser.recognise_boxes(photo, gt_boxes)
    right = sum(names[next(iter(r))] == label for r, label in zip(ranked, gt_labels, strict=True))
    print(
        f"recognition on reference boxes: {right}/{len(gt_labels)} labels right "
        f"({right / len(gt_labels):.1%})"
    )

    weights = args.work / "run" / "train" / "weights" / "best.pt"
    if not args.skip_train:
        from shelfscan.training.train import architecture_yaml, train_detector

        started = time.monotonic()
        summary = write_yolo_dataset(
            [planogram],
            args.work / "dataset",
            faces=faces,
            images=args.images,
            val_fraction=0.1,
            seed=1,
            config=SceneConfig(image_size=args.imgsz),
            single_class=not args.per_product_classes,
        )
        print(
            f"rendered {args.images} images, {summary.boxes} boxes in "
            f"{time.monotonic() - started:.0f} s"
        )
        result = train_detector(
            summary.data_yaml,
            args.work / "run",
            epochs=args.epochs,
            imgsz=args.imgsz,
            model=args.init_weights or architecture_yaml(args.work, width=args.width),
            batch=args.batch,
            device=args.device,
            workers=1,
            patience=100,
            progress=lambda e, n, m: print(
                f"epoch {e}/{n} mAP50 {m.get('metrics/mAP50(B)', 0):.3f}", flush=True
            ),
        )
        weights = result.weights
        print(
            f"trained in {result.seconds / 60:.1f} min; held-out renders: "
            f"mAP50 {result.metrics.map50:.3f}, mAP50-95 {result.metrics.map50_95:.3f}"
        )

    if not weights.is_file():
        raise SystemExit(f"no weights at {weights}: run without --skip-train first")
    from shelfscan.detection.yolo import YoloDetector

    sizes = [int(v) for v in args.infer_sizes.split(",")] if args.infer_sizes else [args.imgsz]
    results = {}
    for size in sizes:
        # The product's own detection backend, as the service runs it.
        detector = YoloDetector(
            weights, confidence_threshold=args.conf, image_size=size, device=args.device
        )
        detections = detector.detect(photo)
        boxes = np.asarray(detections.xyxy, float).reshape(-1, 4)
        scores = np.asarray(detections.confidence, float)
        model_labels = list(detections.labels)
        detector_only = evaluate(boxes, model_labels, scores, gt_boxes, gt_labels)
        print(
            f"[{size} px] detector alone: mAP50 {detector_only['map50']:.3f}, correct labels "
            f"{detector_only['correct_share']:.1%}, class-agnostic AP50 "
            f"{detector_only['agnostic_ap50']:.3f} ({len(boxes)} boxes at conf >= {args.conf})"
        )
        ranked = recogniser.recognise_boxes(photo, boxes)
        relabelled = [
            names[next(iter(r))] if r else lab for r, lab in zip(ranked, model_labels, strict=True)
        ]
        combined = scores * np.array([next(iter(r.values())) if r else 0.0 for r in ranked]) ** 0.25
        with_recognition = evaluate(boxes, relabelled, combined, gt_boxes, gt_labels)
        print(
            f"[{size} px] detector + recognition: mAP50 {with_recognition['map50']:.3f}, "
            f"correct labels {with_recognition['correct_share']:.1%}"
        )
        results[size] = (boxes, relabelled, combined, ranked, detector_only, with_recognition)
    # The headline (and the whole chain) is the first size: the training size by default.
    boxes, relabelled, combined, ranked, detector_only, with_recognition = results[sizes[0]]
    for label, ap in with_recognition["per_class"].items():
        print(f"  AP50 {ap:.3f}  {label}")
    chain = run_chain(planogram, photo, boxes, relabelled, combined, ranked, names, reference)
    (args.work / "result.json").write_text(
        json.dumps(
            {
                "detector": detector_only,
                "with_recognition": with_recognition,
                "boxes": boxes.round(1).tolist(),
                "labels": relabelled,
                "scores": combined.round(4).tolist(),
                "chain": chain,
            },
            indent=1,
        )
    )


def run_chain(planogram, photo, boxes, labels, scores, ranked, names, reference):
    """The whole chain on the real photo: our detections -> matching -> per-facing report,
    next to the same matching run on the Azure model's own detections."""
    from shelfscan.compliance.engine import match_planogram
    from shelfscan.detections import Detections

    # The service's default confidence threshold: low-confidence boxes are for mAP only.
    keep = np.asarray(scores) >= CHAIN_MIN_CONFIDENCE
    boxes, scores = np.asarray(boxes)[keep], np.asarray(scores)[keep]
    labels = [label for label, k in zip(labels, keep, strict=True) if k]
    ranked = [r for r, k in zip(ranked, keep, strict=True) if k]
    ours = Detections.build(
        boxes,
        labels,
        scores,
        image_width=photo.width,
        image_height=photo.height,
        alternatives=[{names[k]: v for k, v in r.items()} if r else {} for r in ranked],
    )
    report = match_planogram(planogram, ours)
    azure = match_planogram(planogram, Detections.from_azure_result(reference))
    azure_by_id = {f.facing_id: f for f in azure.facings}
    agree = 0
    print("\nper-facing result on the real photo (ours | from Azure's detections):")
    for facing in report.facings:
        other = azure_by_id[facing.facing_id]
        agree += facing.status == other.status and facing.found_product_id == other.found_product_id
        found = names.get(facing.found_product_id or "", "-")
        print(
            f"  {facing.facing_id:>5} {facing.product_name[:34]:34} {facing.status.value:10} "
            f"{found[:30]:30} | {other.status.value}"
        )
    counts = {}
    for facing in report.facings:
        counts[facing.status.value] = counts.get(facing.status.value, 0) + 1
    print(
        f"facings: {len(report.facings)}, statuses {dict(sorted(counts.items()))}; "
        f"unexpected products {len(report.unexpected)}"
    )
    print(
        f"agreement with the chain on Azure's detections: {agree}/{len(report.facings)} "
        f"facings (same status and product)"
    )
    print(f"scores ours: {report.scores.model_dump()}")
    print(f"scores from Azure detections: {azure.scores.model_dump()}")
    return {
        "agreement": agree,
        "facings": len(report.facings),
        "statuses": counts,
        "report": report.model_dump(mode="json"),
    }


if __name__ == "__main__":
    main()
