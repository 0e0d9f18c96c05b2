"""Regression floor on the synthetic scenarios (benchmarks/compliance_accuracy.py has the
full numbers): a handful of realistic scenes must stay well above the naive baseline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scenarios = _load("compliance_scenarios")


def test_realistic_scenes_are_mostly_right():
    from shelfscan.compliance.engine import match_planogram

    totals = {name: scenarios.ClassCounts() for name in ("gap", "misplaced", "misplaced_strict")}
    for seed in range(8):
        scene = scenarios.make_scenario(
            np.random.default_rng(seed), scenarios.LEVELS["realistic"], facings=100
        )
        report = match_planogram(scene.planogram, scene.detections)
        counts = scenarios.evaluate(scene, {f.facing_id: f.status.value for f in report.facings})
        for name, c in counts.items():
            totals[name].add(c)
    assert totals["gap"].tp + totals["gap"].fn > 20  # the scenes do contain gaps
    assert totals["gap"].f1 >= 0.9
    assert totals["misplaced"].f1 >= 0.85


def test_truth_is_deterministic_per_seed():
    a = scenarios.make_scenario(np.random.default_rng(3), scenarios.LEVELS["hard"], facings=60)
    b = scenarios.make_scenario(np.random.default_rng(3), scenarios.LEVELS["hard"], facings=60)
    assert a.truth_status == b.truth_status
    assert np.array_equal(a.detections.xyxy, b.detections.xyxy)
