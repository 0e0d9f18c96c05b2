"""Speed of ``match_planogram``: median milliseconds per photo as the problem grows.

Goal: median <= 5 ms for 150 detections against 200 facings on one core, near-linear growth
up to 2,000 x 2,000. Pin to one core with ``taskset -c 0`` for the single-core number.

    taskset -c 0 .venv/bin/python benchmarks/compliance_speed.py
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

from shelfscan.compliance.engine import match_planogram  # noqa: E402


def time_case(facings: int, repeats: int, seed: int) -> tuple[int, int, float, float, dict]:
    """Facings, detections, median wall ms, median CPU ms (what a busy machine's other
    processes do not inflate) and the median of each engine stage."""
    rng = np.random.default_rng(seed)
    planogram = planogram_for_facings(rng, facings)
    scenario = make_scenario(rng, LEVELS["realistic"], planogram)
    n_f, n_d = len(planogram.facings()), len(scenario.detections)
    match_planogram(planogram, scenario.detections)  # warm caches
    samples = []
    cpu = []
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        report = match_planogram(planogram, scenario.detections)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        for name, value in report.timings_ms.items():
            stages.setdefault(name, []).append(value)
    median_stages = {k: round(statistics.median(v), 2) for k, v in stages.items() if k != "total"}
    return n_f, n_d, statistics.median(samples), statistics.median(cpu), median_stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 100, 200, 500, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    header = ("facings", "detections", "wall ms", "CPU ms", "CPU ms/facing")
    print(f"{header[0]:>8} {header[1]:>10} {header[2]:>10} {header[3]:>8} {header[4]:>10}  stages")
    for size in args.sizes:
        repeats = args.repeats if size <= 500 else max(5, args.repeats // 4)
        n_f, n_d, median, best, stages = time_case(size, repeats, seed=size)
        print(f"{n_f:>8} {n_d:>10} {median:>10.2f} {best:>8.2f} {median / n_f:>10.4f}  {stages}")


if __name__ == "__main__":
    main()
