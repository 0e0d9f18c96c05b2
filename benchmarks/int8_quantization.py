"""Would INT8 quantisation of the detector pay for itself? (issue 17's idea, measured.)

Quantises the demo model's OpenVINO export with NNCF's post-training quantisation, calibrated
on rendered shelves of the four demo bays (the recipe ultralytics' own ``int8=True`` export
uses: the ``MIXED`` preset, the detection head's arithmetic, DFL and sigmoids left in float),
then compares it with the float32 export on held-out renders and the demo photos:

* inference time per 640 px input (median, one infer request, OpenVINO's LATENCY hint);
* box agreement with float32: the share of float32 boxes that INT8 finds with the same
  class at IoU ≥ 0.5, and the boxes INT8 adds;
* box recall against the renders' truth for both (IoU ≥ 0.5, same product).

NNCF is not a shelfscan dependency (it brings scikit-learn and friends); install it into the
environment for this script only:

    uv pip install nncf
    uv run python benchmarks/int8_quantization.py --calibration 120 --held-out 40

Nothing is written into ``planograms/models``: the quantised model goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL_XML = ROOT / "planograms" / "models" / "demo-store_openvino_model" / "demo-store.xml"
DEMO = ROOT / "planograms" / "demo-store"
BAYS = ("cereal", "crackers", "drinks", "mixed")
SIZE = 640


def renders(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """``count`` rendered shelves (realistic settings, 1280 px) as BGR arrays, with their true
    boxes and product ids."""
    import cv2

    from shelfscan.planogram.loader import load_planogram_file
    from shelfscan.synth.scene import SceneConfig, ShelfRenderer

    planograms = [load_planogram_file(DEMO / f"{bay}.json") for bay in BAYS]
    names = {p.id: p.name for planogram in planograms for p in planogram.products}
    renderer = ShelfRenderer(planograms, config=SceneConfig(image_size=1280))
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        scene = renderer.render(rng, planograms[index % len(planograms)])
        truth = scene.truth_detections(names)
        bgr = cv2.cvtColor(np.asarray(scene.image.convert("RGB")), cv2.COLOR_RGB2BGR)
        out.append((bgr, np.asarray(truth.xyxy).reshape(-1, 4), list(truth.labels)))
    return out


def network_input(bgr: np.ndarray) -> np.ndarray:
    from shelfscan.detection.openvino_direct import letterbox

    boxed = letterbox(bgr, SIZE)
    return (boxed[:, :, ::-1].transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)


def quantise(calibration: list[np.ndarray], out: Path) -> float:
    """Writes the INT8 model to ``out``; returns the seconds it took."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(MODEL_XML))
    head = r".*model\.22/.*"  # the Detect head of this YOLOv8n export
    ignored = nncf.IgnoredScope(
        patterns=[f"{head}Add", ".*/Sub*", ".*/Mul*", ".*/Div*", r".*\.dfl.*"],
        types=["Sigmoid"],
        validate=False,
    )
    started = time.perf_counter()
    quantised = nncf.quantize(
        model,
        nncf.Dataset(calibration),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=ignored,
        subset_size=len(calibration),
    )
    seconds = time.perf_counter() - started
    ov.save_model(quantised, str(out))
    return seconds


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def matched(reference: tuple[np.ndarray, list[str]], other: tuple[np.ndarray, list[str]]) -> int:
    """How many reference boxes ``other`` has with the same label at IoU ≥ 0.5 (greedy)."""
    ious = iou_matrix(reference[0], other[0])
    same = np.array([[r == o for o in other[1]] for r in reference[1]], dtype=bool)
    ious = np.where(same.reshape(ious.shape), ious, 0)
    found = 0
    used: set[int] = set()
    for row in range(len(ious)):
        order = np.argsort(-ious[row])
        for column in order:
            if ious[row, column] < 0.5:
                break
            if column not in used:
                used.add(int(column))
                found += 1
                break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=int, default=120, help="Rendered shelves")
    parser.add_argument("--held-out", type=int, default=40, help="Renders to compare on")
    args = parser.parse_args()
    try:
        import nncf  # noqa: F401
    except ImportError:
        print("NNCF is not installed: `uv pip install nncf`, then run this again")
        return 2
    import cv2
    import yaml

    from shelfscan.detection.openvino_direct import DirectOpenVino

    names = yaml.safe_load((MODEL_XML.parent / "metadata.yaml").read_text())["names"]
    started = time.perf_counter()
    calibration = [network_input(bgr) for bgr, _, _ in renders(args.calibration, seed=7)]
    held_out = renders(args.held_out, seed=1234)
    print(
        f"rendered {len(calibration)} + {len(held_out)} shelves in "
        f"{time.perf_counter() - started:.0f} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        int8_xml = Path(folder) / "demo-store-int8.xml"
        print(f"quantised in {quantise(calibration, int8_xml):.0f} s")
        models = {
            "float32": DirectOpenVino(MODEL_XML, SIZE),
            "int8": DirectOpenVino(int8_xml, SIZE),
        }

        def detect(model: DirectOpenVino, bgr: np.ndarray) -> tuple[np.ndarray, list[str]]:
            xyxy, _, classes, timings = model.predict(
                bgr,
                confidence_threshold=0.25,
                iou_threshold=0.6,
                max_detections=1000,
                class_agnostic_nms=True,
            )
            detect.inference.append(timings["inference"])  # type: ignore[attr-defined]
            return xyxy, [names.get(int(c), str(c)) for c in classes]

        results: dict[str, dict[str, list]] = {}
        photos = [cv2.imread(str(DEMO / "photos" / f"{bay}.jpg")) for bay in BAYS]
        for name, model in models.items():
            for bgr in photos[:2]:
                detect.inference = []  # type: ignore[attr-defined]
                detect(model, bgr)  # warm-up
            detect.inference = []  # type: ignore[attr-defined]
            boxes = [detect(model, bgr) for bgr, _, _ in held_out]
            demo = [detect(model, bgr) for bgr in photos]
            results[name] = {"renders": boxes, "demo": demo, "ms": list(detect.inference)}  # type: ignore[attr-defined]

    fp32, int8 = results["float32"], results["int8"]
    print(
        f"inference per 640 px input, median: float32 {statistics.median(fp32['ms']):.1f} ms, "
        f"int8 {statistics.median(int8['ms']):.1f} ms "
        f"({statistics.median(fp32['ms']) / statistics.median(int8['ms']):.2f}× faster)"
    )
    for part in ("renders", "demo"):
        reference = sum(len(labels) for _, labels in fp32[part])
        kept = sum(matched(a, b) for a, b in zip(fp32[part], int8[part], strict=True))
        added = sum(len(b[1]) for b in int8[part]) - kept
        print(
            f"{part}: int8 keeps {kept}/{reference} = {kept / max(reference, 1):.1%} of "
            f"float32's boxes (same product, IoU ≥ 0.5) and adds {added}"
        )
    truth_total = sum(len(labels) for _, _, labels in held_out)
    for name in ("float32", "int8"):
        found = sum(
            matched((xyxy, labels), predicted)
            for (_, xyxy, labels), predicted in zip(held_out, results[name]["renders"], strict=True)
        )
        print(
            f"{name}: recall against the renders' truth {found}/{truth_total} = "
            f"{found / max(truth_total, 1):.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
