"""The real Azure sample: a phone photo, its planogram and the Azure custom model's boxes."""

from __future__ import annotations

import pytest

from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import EvidenceSource, FacingStatus
from shelfscan.detections import Detections
from shelfscan.planogram.azure_json import import_azure_planogram
from tests.compliance.helpers import (
    SAMPLE_DETECTIONS,
    SAMPLE_GAPS,
    SAMPLE_MISPLACED,
    SAMPLE_PLANOGRAM,
    load_json,
)


@pytest.fixture(scope="module")
def report():
    planogram = import_azure_planogram(load_json(SAMPLE_PLANOGRAM))
    detections = Detections.from_azure_result(load_json(SAMPLE_DETECTIONS))
    return match_planogram(planogram, detections)


def test_every_position_gets_a_verdict(report):
    assert len(report.facings) == 58
    assert report.counts.not_visible == 0


def test_gaps_are_the_three_empty_facings_in_the_photo(report):
    assert set(report.ids_with_status(FacingStatus.GAP)) == SAMPLE_GAPS


def test_gap_evidence_distinguishes_detector_gaps_from_empty_space(report):
    # 0030 and 0056 have gap boxes from the detector; 0003 is empty shelf space it missed.
    assert report.facing("0030").evidence.source is EvidenceSource.GAP_DETECTION
    assert report.facing("0030").evidence.detection_id == "53"
    assert report.facing("0056").evidence.detection_id == "56"
    assert report.facing("0003").evidence.source is EvidenceSource.INFERRED


def test_misplaced_facings_name_what_stands_there(report):
    misplaced = {
        f.facing_id: f.found_label for f in report.facings if f.status is FacingStatus.MISPLACED
    }
    assert misplaced == SAMPLE_MISPLACED


def test_everything_else_is_in_place(report):
    ok = set(report.ids_with_status(FacingStatus.OK))
    assert len(ok) == 58 - len(SAMPLE_GAPS) - len(SAMPLE_MISPLACED)
    assert report.facing("0001").evidence.detection_id == "32"  # leftmost Triscuit, bottom shelf
    assert report.facing("0058").evidence.detection_id == "22"  # rightmost Ritz, top shelf


def test_registration_finds_the_anisotropic_scale(report):
    # Across ~51.7 px per unit, down ~44 px per unit (shelf pitch), barely rotated.
    assert 50.0 < report.registration.scale_x < 54.0
    assert 42.0 < report.registration.scale_y < 46.0
    assert abs(report.registration.rotation_deg) < 1.0
    assert len(report.registration.rows) == 7  # six shelves, one with stacked boxes on top


def test_scores_follow_the_counts(report):
    assert report.counts.ok == 50
    assert report.scores.position_compliance == pytest.approx(50 / 58, abs=1e-4)
    tates = next(p for p in report.products if p.product_id == "0005")
    assert (tates.expected, tates.found, tates.gap) == (9, 8, 1)
    wheat_thins_original = next(p for p in report.products if p.product_id == "0011")
    assert wheat_thins_original.found == 9  # 5 in place + 4 where other flavours belong
    assert wheat_thins_original.scores.facings_compliance == 1.0
