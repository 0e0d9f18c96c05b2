"""Speed of ``match_planogram``: median milliseconds per photo as the problem grows.

Goal: median <= 5 ms for ~150-200 detections against a 200-facing planogram on one core,
near-linear growth up to 2,000 x 2,000. Pin to one core for the single-core number:

    taskset -c 0 .venv/bin/python benchmarks/compliance_speed.py

Two cases per size: "repeat scan" (the bay's planogram was matched before, so its
preparation comes from the engine's LRU: the usual case, a store photographs the same bay
again and again) and "first scan" (the cache is cleared before every match). Both wall-clock
and CPU time are printed; on a shared machine the CPU time is the steadier of the two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

from compliance_scenarios import LEVELS, make_scenario, planogram_for_facings  # noqa: E402

from shelfscan.compliance import prepared  # noqa: E402
from shelfscan.compliance.engine import match_planogram  # noqa: E402


def time_case(
    facings: int, repeats: int, seed: int, *, cold: bool, detections: int | None = None
) -> dict:
    """Median wall and CPU milliseconds per match, and the median of each engine stage.
    ``detections``: keep that many of the scene's boxes (a random subset: missed products)."""
    rng = np.random.default_rng(seed)
    planogram = planogram_for_facings(rng, facings)
    scenario = make_scenario(rng, LEVELS["realistic"], planogram)
    found = scenario.detections
    if detections is not None and detections < len(found):
        keep = np.zeros(len(found), dtype=bool)
        keep[rng.choice(len(found), detections, replace=False)] = True
        found = found[keep]
    match_planogram(planogram, found)  # warm caches (imports, the LRU)
    wall, cpu = [], []
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):
        if cold:
            prepared.clear_cache()
        started, started_cpu = time.perf_counter(), time.process_time()
        report = match_planogram(planogram, found)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        for name, value in report.timings_ms.items():
            stages.setdefault(name, []).append(value)
        # Freed outside the timed region: dropping a report is its consumer's cost.
        del report
    skip = ("total", "planogram_cache_hit")
    return {
        "facings": len(planogram.facings()),
        "detections": len(found),
        "wall": statistics.median(wall),
        "cpu": statistics.median(cpu),
        "stages": {k: round(statistics.median(v), 2) for k, v in stages.items() if k not in skip},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 100, 200, 500, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available to this process: {cores}; load average (1 min): {load:.2f}")
    header = f"{'case':<19} {'facings':>7} {'detections':>10} {'wall ms':>8} {'CPU ms':>7} "
    print(header + f"{'CPU µs/facing':>13}  stages (wall ms)")
    cases = [(200, 150, "goal")] + [(size, None, "") for size in args.sizes]
    for size, detections, note in cases:
        repeats = args.repeats if size <= 500 else max(10, args.repeats // 5)
        for cold in (False, True):
            r = time_case(size, repeats, seed=size, cold=cold, detections=detections)
            name = ("first scan" if cold else "repeat scan") + (f" ({note})" if note else "")
            print(
                f"{name:<19} {r['facings']:>7} {r['detections']:>10} {r['wall']:>8.2f} "
                f"{r['cpu']:>7.2f} {1000 * r['cpu'] / r['facings']:>13.1f}  {r['stages']}"
            )


if __name__ == "__main__":
    main()
