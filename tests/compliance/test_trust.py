"""The trust check: good photos stay conclusive, bad ones end inconclusive with the reason that
sends the clerk the right way. No model runs here: the demo photos' recorded truth stands in for
the detector (as in tests/test_demo.py), plus the real Azure sample and synthetic scenes.
benchmarks/inconclusive.py runs the full set (61 bad cases through the shipped model)."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.trust import (
    INSTRUCTIONS,
    TrustReason,
    TrustThresholds,
    assess,
    most_likely_bay,
)
from shelfscan.demo import PHOTO_DIR, demo_planograms
from shelfscan.detection.replay import detections_from_document
from shelfscan.detections import Detections
from shelfscan.planogram.azure_json import import_azure_planogram
from shelfscan.planogram.model import Planogram
from tests.compliance.helpers import DATA, SAMPLE_DETECTIONS, SAMPLE_PLANOGRAM, load_json

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
BAYS = sorted(demo_planograms())
LIMITS = TrustThresholds()
# The shipped demo model's boxes on planograms/demo-store/photos/cereal.jpg.
CEREAL_MODEL_DETECTIONS = DATA / "cereal_photo_demo_model_detections.json"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scenarios = _load("compliance_scenarios")


@cache
def store() -> dict[str, Planogram]:
    return demo_planograms()


@cache
def truth_detections(bay: str) -> Detections:
    """What a perfect detector reports on the bay's demo photo, labelled with product names."""
    truth = json.loads((PHOTO_DIR / f"{bay}.truth.json").read_text())
    names = {p.id: p.name for planogram in store().values() for p in planogram.products}
    objects = truth["objects"]
    return Detections.build(
        [o["xyxy"] for o in objects],
        [names.get(o["product_id"], o["product_id"]) for o in objects],
        [0.9] * len(objects),
        image_width=truth["image"]["width"],
        image_height=truth["image"]["height"],
    )


def _verdict(planogram: Planogram, detections: Detections, quality=None, candidates=None):
    report = match_planogram(planogram, detections)
    return report, assess(report, detections, planogram, quality, candidates=candidates)


@pytest.mark.parametrize("bay", BAYS)
def test_each_bays_own_photo_is_conclusive(bay: str) -> None:
    report, verdict = _verdict(store()[bay], truth_detections(bay), candidates=store())
    assert verdict.conclusive, verdict.as_dict()
    assert verdict.reason is None and verdict.instruction is None
    assert verdict.likely_bay is None
    figures = verdict.figures
    assert figures.product_boxes == len(truth_detections(bay))
    assert figures.label_share is not None and figures.label_share >= LIMITS.min_label_share
    assert figures.in_view_fraction == pytest.approx(
        report.counts.visible / report.counts.facings, abs=1e-4
    )


@pytest.mark.parametrize(("photo_bay", "planned_bay"), list(permutations(BAYS, 2)))
def test_another_bays_photo_is_the_wrong_bay_and_names_it(photo_bay: str, planned_bay: str) -> None:
    report, verdict = _verdict(
        store()[planned_bay], truth_detections(photo_bay), candidates=store()
    )
    # The engine alone would hand out a fix list for this photo.
    assert report.counts.gap + report.counts.misplaced > 0
    assert not verdict.conclusive
    assert verdict.reason is TrustReason.WRONG_BAY
    assert verdict.likely_bay is not None and verdict.likely_bay.bay == photo_bay
    assert f"bay {photo_bay}" in (verdict.instruction or "")


def test_cereal_photo_against_drinks_is_wrong_bay_although_registration_warns_nothing() -> None:
    # `shelfscan match --planogram drinks.json` on the shipped model's boxes for the cereal
    # photo (recorded): 2.6 % position compliance and no registration warning, because two
    # boxes happen to be labelled with drinks products.
    detections = detections_from_document(load_json(CEREAL_MODEL_DETECTIONS))
    report, verdict = _verdict(store()["drinks"], detections, candidates=store())
    assert report.counts.gap + report.counts.misplaced > 0
    assert verdict.reason is TrustReason.WRONG_BAY
    assert verdict.likely_bay is not None and verdict.likely_bay.bay == "cereal"
    assert verdict.figures.label_share is not None
    assert verdict.figures.label_share < LIMITS.min_label_share
    # The same boxes against the cereal planogram: conclusive.
    _, verdict = _verdict(store()["cereal"], detections, candidates=store())
    assert verdict.conclusive, verdict.as_dict()


def test_the_real_azure_sample_is_conclusive_and_wrong_for_every_demo_bay() -> None:
    planogram = import_azure_planogram(load_json(SAMPLE_PLANOGRAM))
    detections = Detections.from_azure_result(load_json(SAMPLE_DETECTIONS))
    _, verdict = _verdict(planogram, detections)
    assert verdict.conclusive, verdict.as_dict()
    for bay in BAYS:
        _, verdict = _verdict(store()[bay], detections)
        assert verdict.reason is TrustReason.WRONG_BAY, bay


@pytest.mark.parametrize("level", ["easy", "realistic", "hard"])
def test_synthetic_scenes_are_conclusive(level: str) -> None:
    for seed in range(3):
        scenario = scenarios.make_scenario(np.random.default_rng(seed), scenarios.LEVELS[level])
        _, verdict = _verdict(scenario.planogram, scenario.detections)
        assert verdict.conclusive, (level, seed, verdict.as_dict())


def test_a_photo_of_a_small_part_of_the_bay_is_too_little_in_view() -> None:
    part = scenarios.Difficulty("part", partial_rate=1.0, partial_keep=(0.2, 0.25))
    for seed in range(3):
        scenario = scenarios.make_scenario(np.random.default_rng(seed), part)
        _, verdict = _verdict(scenario.planogram, scenario.detections)
        assert verdict.reason is TrustReason.TOO_LITTLE_IN_VIEW, verdict.as_dict()
        assert verdict.figures.in_view_fraction < LIMITS.min_in_view_fraction


@pytest.mark.parametrize("bay", BAYS)
def test_a_blank_photo_finds_no_shelf(bay: str) -> None:
    truth = truth_detections(bay)
    blank = Detections.empty(truth.image_width, truth.image_height)
    report, verdict = _verdict(store()[bay], blank)
    assert report.counts.gap > 0  # what the engine alone would report
    assert verdict.reason is TrustReason.NO_SHELF
    assert verdict.instruction == INSTRUCTIONS[TrustReason.NO_SHELF]
    assert verdict.figures.product_boxes == 0


def test_a_dark_or_blurred_photo_says_so_before_anything_else() -> None:
    bay = "cereal"
    dark = {"ok": False, "metrics": {"brightness": 12.0, "sharpness": 150.0}, "issues": []}
    _, verdict = _verdict(store()[bay], truth_detections(bay), dark)
    assert verdict.reason is TrustReason.TOO_DARK_OR_BLURRED
    assert verdict.figures.brightness == 12.0
    # A scan's quality summary: the worst photo counts.
    summary = {
        "photos": [
            {"metrics": {"brightness": 120.0, "sharpness": 300.0}},
            {"metrics": {"brightness": 118.0, "sharpness": 0.8}},
        ]
    }
    _, verdict = _verdict(store()[bay], truth_detections(bay), summary)
    assert verdict.reason is TrustReason.TOO_DARK_OR_BLURRED
    assert verdict.figures.sharpness == 0.8
    fine = {"metrics": {"brightness": 120.0, "sharpness": 300.0}}
    _, verdict = _verdict(store()[bay], truth_detections(bay), fine)
    assert verdict.conclusive


@pytest.mark.parametrize("bay", BAYS)
def test_a_photo_mostly_covered_is_refused(bay: str) -> None:
    truth = truth_detections(bay)
    # Everything but the right fifth of the photo hidden (a trolley in front of the bay).
    centres = (truth.xyxy[:, 0] + truth.xyxy[:, 2]) / 2
    visible = truth[np.flatnonzero(centres > 0.8 * truth.image_width)]
    _, verdict = _verdict(store()[bay], visible)
    assert verdict.reason in {TrustReason.VIEW_BLOCKED, TrustReason.NO_SHELF}, verdict.as_dict()


@pytest.mark.parametrize("bay", BAYS)
def test_an_upside_down_photo_does_not_fit(bay: str) -> None:
    truth = truth_detections(bay)
    w, h = truth.image_width, truth.image_height
    turned = truth.xyxy[:, [2, 3, 0, 1]] * -1 + [w, h, w, h]
    upside_down = Detections.build(
        turned, list(truth.labels), truth.confidence, image_width=w, image_height=h
    )
    _, verdict = _verdict(store()[bay], upside_down)
    assert not verdict.conclusive, verdict.as_dict()
    assert verdict.reason in {TrustReason.DOES_NOT_FIT, TrustReason.VIEW_BLOCKED}
    # The right products, in the wrong places.
    assert verdict.figures.label_share is not None
    assert verdict.figures.label_share >= LIMITS.min_label_share


def test_most_likely_bay_ranks_the_bay_the_detections_show_first() -> None:
    for bay in BAYS:
        ranked = most_likely_bay(store(), truth_detections(bay))
        assert ranked[0].bay == bay
        assert sorted(fit.bay for fit in ranked) == BAYS
        assert ranked[0].label_share == max(fit.label_share or 0.0 for fit in ranked)
        assert all(fit.named_boxes <= ranked[0].named_boxes for fit in ranked)
    full = most_likely_bay(store(), truth_detections("drinks"), full_match=True)
    assert full[0].bay == "drinks"
    assert full[0].explained_share is not None and full[0].explained_share > 0.8


def test_generic_labels_leave_the_label_figures_out() -> None:
    # A detector that only says "product" (Azure's pretrained model): geometry decides.
    truth = truth_detections("mixed")
    generic = Detections.build(
        truth.xyxy,
        ["product"] * len(truth),
        truth.confidence,
        image_width=truth.image_width,
        image_height=truth.image_height,
    )
    _, verdict = _verdict(store()["mixed"], generic)
    assert verdict.figures.labelled_boxes == 0
    assert verdict.figures.label_share is None and verdict.figures.product_overlap is None
    assert verdict.conclusive, verdict.as_dict()


def test_the_verdict_is_json_ready_for_the_report() -> None:
    _, verdict = _verdict(store()["drinks"], truth_detections("cereal"), candidates=store())
    document = json.loads(json.dumps(verdict.as_dict()))
    assert document["conclusive"] is False
    assert document["reason"] == "wrong_bay"
    assert document["likely_bay"]["bay"] == "cereal"
    assert set(document["figures"]) >= {
        "label_share",
        "explained_share",
        "in_view_fraction",
        "filled_share",
        "product_boxes",
    }
