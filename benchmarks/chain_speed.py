"""shelfscan's whole chain against ultralytics alone, on the same model and photos (issue 17).

For each photo, in one process and interleaved run by run (so that load from other processes
hits both alike), it times:

* ``ultralytics`` — ``YOLO("planograms/models/demo-store.pt").predict(path)`` at the model's
  size: the library's plain PyTorch path, decode + detect;
* ``chain`` — what a scan worker does with the photo's bytes: :class:`shelfscan.imaging.decode.
  Photo` (decoded at the size the detector needs, by OpenCV straight into an array), detect with
  the default detector (the OpenVINO export called directly: ``detection.openvino_direct``),
  register and match, trust check and actions (``shelfscan.pipeline.Analyzer``); the annotated
  photo is drawn on first use, after the report, and is timed on its own (``annotate``);
* ``full-decode chain`` — the chain as it was: every pixel decoded (``load_image``) and the
  annotated photo drawn before the report is returned.

and prints medians with the ratio ``ultralytics / chain`` (goal: ≥ 2). It then checks that the
reports are the same from the reduced decode as from the full one: facing statuses, trust
verdict and actions (goal: unchanged), on the four demo photos and the Azure sample.

Photos: the Azure sample (2586×3161, 8 MP), and the demo drinks photo upscaled to 8 MP and
12 MP (JPEG quality 92, like a phone's). Pin it to one core to measure per-core cost:

    taskset -c 1 .venv/bin/python benchmarks/chain_speed.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from shelfscan.settings import AZURE_SAMPLE_DIR, Settings  # noqa: E402

PT_MODEL = ROOT / "planograms" / "models" / "demo-store.pt"
DEMO = ROOT / "planograms" / "demo-store"
DEMO_BAYS = ("cereal", "crackers", "drinks", "mixed")


def upscaled(source: Path, megapixels: float, out: Path) -> Path:
    with Image.open(source) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        size = (round(image.width * scale), round(image.height * scale))
        image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(out, quality=92)
    return out


def azure_planogram():
    from shelfscan.planogram.azure_json import import_azure_planogram

    document = json.loads((AZURE_SAMPLE_DIR / "sample_planogram.json").read_text())
    return import_azure_planogram(document, planogram_id="azure-sample")


def demo_planogram(bay: str):
    from shelfscan.planogram.loader import load_planogram_file

    return load_planogram_file(DEMO / f"{bay}.json")


def verdicts(report) -> dict:
    """What a person acts on: every facing's status, the trust verdict and the actions."""
    return {
        "facings": {f.facing_id: f.status.value for f in report.facings},
        "conclusive": None if report.trust is None else report.trust.conclusive,
        "actions": [(a.kind.value, a.facing_ids, a.detection_ids) for a in report.actions],
        "unexpected": len(report.unexpected),
    }


def _worker_photos(path: str, runs: int, start: object) -> list[float]:
    """One worker process: what the scan task does with each photo, minus the database and
    storage writes (report, annotated photo, evidence crops); the seconds of each photo."""
    import io

    from shelfscan.imaging.decode import Photo
    from shelfscan.pipeline import Analyzer, _quality_of
    from shelfscan.services.scans import evidence_boxes

    analyzer = Analyzer.from_settings(Settings())
    planogram = demo_planogram("drinks")
    data = Path(path).read_bytes()
    analyzer(Photo(data), planogram)  # warm
    start.wait()  # type: ignore[attr-defined]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        photo = Photo(data)
        analysis = analyzer(photo, planogram, image_quality=_quality_of(photo))
        _ = analysis.annotated_jpeg
        for x1, y1, x2, y2 in evidence_boxes(analysis.report).values():
            out = io.BytesIO()
            photo.full().crop((round(x1), round(y1), round(x2), round(y2))).save(out, "JPEG")
        seconds.append(time.perf_counter() - started)
    return seconds


def worker_throughput(path: Path, processes: int, runs: int) -> float:
    """Photos per second of ``processes`` worker processes, each analysing ``runs`` photos."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(processes + 1)  # every process loaded and warm, then go
        with context.Pool(processes) as pool:
            pending = pool.starmap_async(
                _worker_photos, [(str(path), runs, start) for _ in range(processes)]
            )
            start.wait()
            started = time.perf_counter()
            pending.get()
            elapsed = time.perf_counter() - started
    return processes * runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Also write the results here")
    parser.add_argument(
        "--throughput", type=int, default=0, help="Photos per worker process (0: skip)"
    )
    parser.add_argument(
        "--only-throughput", action="store_true", help="Measure worker throughput alone"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="Reduced decode at least this many times the model's input size "
        "(default: shelfscan.detection.yolo.REDUCED_DECODE_MARGIN)",
    )
    args = parser.parse_args()
    if args.margin is not None:
        import shelfscan.detection.yolo as yolo

        yolo.REDUCED_DECODE_MARGIN = args.margin

    from ultralytics import YOLO

    from shelfscan.images import load_image
    from shelfscan.imaging.decode import Photo
    from shelfscan.pipeline import Analyzer, _quality_of

    if args.only_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            path = upscaled(DEMO / "photos" / "drinks.jpg", 8, Path(tmp) / "8mp.jpg")
            print(f"load average at start: {os.getloadavg()}")
            for processes in (1, 2):
                rate = worker_throughput(path, processes, args.throughput or 5)
                print(f"worker throughput, 8 MP, {processes} process(es): {rate:.2f} photos/s")
            print(f"load average at end: {os.getloadavg()}")
        return
    settings = Settings()
    analyzer = Analyzer.from_settings(settings)
    reference = YOLO(str(PT_MODEL), task="detect")
    size = analyzer.detector.info.image_size
    runner = analyzer.detector.info.details.get("runner", analyzer.detector.info.backend)
    print(
        f"model: {settings.model_path.name} (chain, run by {runner}), "
        f"{PT_MODEL.name} (ultralytics), {size} px"
    )
    print(f"load average at start: {os.getloadavg()}; cpus allowed: {len(os.sched_getaffinity(0))}")

    with tempfile.TemporaryDirectory() as tmp:
        drinks = DEMO / "photos" / "drinks.jpg"
        photos = [
            ("Azure sample 8 MP", AZURE_SAMPLE_DIR / "sample_image.jpg", azure_planogram()),
            ("drinks ×8 MP", upscaled(drinks, 8, Path(tmp) / "8mp.jpg"), demo_planogram("drinks")),
            (
                "drinks ×12 MP",
                upscaled(drinks, 12, Path(tmp) / "12mp.jpg"),
                demo_planogram("drinks"),
            ),
            ("drinks (demo)", drinks, demo_planogram("drinks")),
        ]
        results = []
        for name, path, planogram in photos:
            data = path.read_bytes()
            reference.predict(str(path), imgsz=size, verbose=False)  # warm-up
            times: dict[str, list[float]] = {
                "ultralytics": [],
                "chain": [],
                "quality check": [],
                "annotate": [],
                "full-decode chain": [],
            }
            for _ in range(args.runs):
                started = time.perf_counter()
                reference.predict(str(path), imgsz=size, verbose=False)
                times["ultralytics"].append(time.perf_counter() - started)

                # The worker gets the photo's quality from the upload check (done when the
                # photo was accepted, on its own decode); timed here on its own.
                started = time.perf_counter()
                quality = _quality_of(Photo(data))
                times["quality check"].append(time.perf_counter() - started)
                started = time.perf_counter()
                analysis = analyzer(Photo(data), planogram, image_quality=quality)
                times["chain"].append(time.perf_counter() - started)
                started = time.perf_counter()
                _ = analysis.annotated_jpeg
                times["annotate"].append(time.perf_counter() - started)

                started = time.perf_counter()
                old = analyzer(load_image(data), planogram)
                _ = old.annotated_jpeg
                times["full-decode chain"].append(time.perf_counter() - started)
            medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
            with Image.open(path) as opened:
                width, height = opened.size
            row = {
                "photo": name,
                "size": f"{width}×{height}",
                **{f"{k} ms": round(v, 1) for k, v in medians.items()},
                "ratio ultralytics/chain": round(medians["ultralytics"] / medians["chain"], 2),
                "ratio ultralytics/(chain+quality)": round(
                    medians["ultralytics"] / (medians["chain"] + medians["quality check"]), 2
                ),
                "ratio ultralytics/(chain+annotate)": round(
                    medians["ultralytics"] / (medians["chain"] + medians["annotate"]), 2
                ),
                "chain timings": analysis.report.timings_ms,
            }
            results.append(row)
            print(json.dumps(row, ensure_ascii=False))

    print("\nverdicts, reduced decode vs full decode:")
    same_everywhere = True
    checks = [(bay, DEMO / "photos" / f"{bay}.jpg", demo_planogram(bay)) for bay in DEMO_BAYS]
    checks.append(("azure-sample", AZURE_SAMPLE_DIR / "sample_image.jpg", azure_planogram()))
    for name, path, planogram in checks:
        data = path.read_bytes()
        reduced = verdicts(analyzer(Photo(data), planogram).report)
        full = verdicts(analyzer(load_image(data), planogram).report)
        same = reduced == full
        same_everywhere &= same
        statuses = sorted(set(reduced["facings"].values()))
        print(
            f"  {name}: {'same' if same else 'DIFFERENT'} ({len(reduced['facings'])} facings, "
            f"{', '.join(statuses)}; conclusive={reduced['conclusive']}; "
            f"{len(reduced['actions'])} actions)"
        )
        if not same:
            for key in reduced:
                if reduced[key] != full[key]:
                    print(f"    {key}: reduced={reduced[key]} full={full[key]}")
    print("\nfacing statuses right (against the renders' truth, facings in frame):")
    accuracy = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bay in DEMO_BAYS:
            source = DEMO / "photos" / f"{bay}.jpg"
            truth = json.loads((DEMO / "photos" / f"{bay}.truth.json").read_text())
            expected = {f["facing_id"]: f["status"] for f in truth["facings"] if f["in_frame"]}
            planogram = demo_planogram(bay)
            for label, path in (
                ("demo", source),
                ("8 MP", upscaled(source, 8, Path(tmp) / f"{bay}-8.jpg")),
                ("12 MP", upscaled(source, 12, Path(tmp) / f"{bay}-12.jpg")),
            ):
                data = path.read_bytes()
                row = []
                for way, image in (("full", load_image(data)), ("reduced", Photo(data))):
                    got = verdicts(analyzer(image, planogram).report)["facings"]
                    right = sum(got.get(k) == v for k, v in expected.items())
                    accuracy.setdefault(way, []).append((right, len(expected)))
                    row.append(f"{way} {right}/{len(expected)}")
                print(f"  {bay} {label}: {', '.join(row)}")
    for way, counts in accuracy.items():
        right, total = (sum(c[i] for c in counts) for i in (0, 1))
        print(f"  {way} decode: {right}/{total} = {right / total:.1%}")
    if args.throughput:
        print("\nworker throughput, 8 MP photos (analysis, annotated photo, evidence crops):")
        with tempfile.TemporaryDirectory() as tmp:
            path = upscaled(DEMO / "photos" / "drinks.jpg", 8, Path(tmp) / "8mp.jpg")
            for processes in (1, 2):
                rate = worker_throughput(path, processes, args.throughput)
                print(f"  {processes} process(es): {rate:.2f} photos/s")
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "same": same_everywhere}, indent=2))
    if not same_everywhere:
        sys.exit(1)


if __name__ == "__main__":
    main()
