"""End-to-end check of matching on renders whose per-facing truth is known.

Renders shelf photos of a planogram with deviations (gaps, misplaced and unexpected products,
perspective, occlusion...), feeds the renderer's exact labels as detections to
``match_planogram`` and compares every in-frame facing's status and product with the truth.
Detector errors are out of the picture, so this measures registration + matching alone:

    .venv/bin/python benchmarks/synthetic_pipeline.py --renders 40
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.compliance.engine import match_planogram  # noqa: E402
from shelfscan.planogram.azure_json import import_azure_planogram  # noqa: E402
from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402
from shelfscan.synth.packaging import load_front_faces  # noqa: E402
from shelfscan.synth.scene import FacingStatus, SceneConfig, ShelfRenderer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--planogram",
        type=Path,
        default=AZURE_SAMPLE_DIR / "sample_planogram.json",
    )
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    planogram = import_azure_planogram(json.loads(args.planogram.read_text()), planogram_id="bench")
    names = {p.id: p.name for p in planogram.products}
    config = SceneConfig(image_size=1024, gap_rate=0.08, misplace_rate=0.06)
    renderer = ShelfRenderer([planogram], load_front_faces(planogram.products), config)
    confusion: Counter[tuple[str, str]] = Counter()
    product_right = product_total = 0
    seconds = []
    for index in range(args.renders):
        scene = renderer.render(np.random.default_rng([args.seed, index]))
        started = time.perf_counter()
        report = match_planogram(planogram, scene.truth_detections(names))
        seconds.append(time.perf_counter() - started)
        results = {f.facing_id: f for f in report.facings}
        for truth in scene.facings:
            if not truth.in_frame:
                continue
            got = results[truth.facing_id]
            confusion[(truth.status.value, got.status.value)] += 1
            if truth.status is not FacingStatus.GAP:
                product_total += 1
                product_right += got.found_product_id == truth.actual_product_id
    total = sum(confusion.values())
    right = sum(n for (t, g), n in confusion.items() if t == g)
    print(
        f"{args.renders} renders, {total} in-frame facings: status right {right / total:.1%}, "
        f"product right where one stands {product_right / max(product_total, 1):.1%}"
    )
    for status in FacingStatus:
        row = {g: n for (t, g), n in confusion.items() if t == status.value}
        n = sum(row.values())
        if n:
            print(
                f"  truth {status.value:9} ({n:4}): "
                + ", ".join(
                    f"{g} {c / n:.1%}" for g, c in sorted(row.items(), key=lambda kv: -kv[1])
                )
            )
    print(f"match_planogram: median {np.median(seconds) * 1000:.1f} ms per photo")


if __name__ == "__main__":
    main()
