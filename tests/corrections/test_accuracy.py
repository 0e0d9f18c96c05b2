"""The review queue's doubt: the plan corroborates or contradicts a verdict (issue 18)."""

from __future__ import annotations

from shelfscan.corrections.accuracy import Signals, expected_benefit, report_verdicts, wrong_chance


def test_the_plan_corroborates_agreeing_verdicts_and_contradicts_the_others() -> None:
    unsure = Signals(recognition_margin=0.2)
    sure = Signals(recognition_margin=0.9)
    alone = wrong_chance(unsure)
    assert wrong_chance(Signals(recognition_margin=0.2, plan_agreement=1.0)) < alone
    assert wrong_chance(Signals(recognition_margin=0.2, plan_agreement=0.0)) > alone
    # a sure "misplaced" is worth a look before an unsure "ok": the plan says otherwise
    misplaced = expected_benefit("misplaced", Signals(recognition_margin=0.9, plan_agreement=0))
    ok = expected_benefit("ok", Signals(recognition_margin=0.2, plan_agreement=1))
    assert misplaced > ok
    # no plan signal: the doubt is the other signals' alone
    assert wrong_chance(sure) == wrong_chance(Signals(recognition_margin=0.9, plan_agreement=None))


def test_report_verdicts_say_whether_the_plan_agrees() -> None:
    report = {
        "facings": [
            {"facing_id": "f1", "status": "ok", "product_id": "a", "found_product_id": "a"},
            {"facing_id": "f2", "status": "misplaced", "product_id": "a", "found_product_id": "b"},
            {"facing_id": "f3", "status": "gap", "product_id": "a"},
        ]
    }
    plan = {v["facing_id"]: s.plan_agreement for v, s in report_verdicts(report)}
    assert plan == {"f1": 1.0, "f2": 0.0, "f3": None}
