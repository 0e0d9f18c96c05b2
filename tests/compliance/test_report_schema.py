from __future__ import annotations

import json
from pathlib import Path

from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import REPORT_SCHEMA_VERSION, ComplianceReport, report_json_schema
from tests.compliance.helpers import make_planogram, shoot

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_json_schema_matches_the_models():
    committed = json.loads((DOCS / "report.schema.json").read_text())
    assert committed == json.loads(json.dumps(report_json_schema())), (
        "regenerate: python -c 'from pathlib import Path; from shelfscan.compliance.report "
        'import write_json_schema; write_json_schema(Path("docs/report.schema.json"))\''
    )


def test_schema_doc_names_the_version():
    assert f"version {REPORT_SCHEMA_VERSION}" in (DOCS / "report-schema.md").read_text()


def test_report_round_trips_through_validation():
    # The engine builds the report without validation; it must still be a valid report.
    planogram = make_planogram([["A", "B", "C"], ["D", "D", "E"]])
    report = match_planogram(
        planogram, shoot(planogram, remove={"S1-02"}, replace={"S2-03": "Product A"})
    )
    dumped = report.model_dump(mode="json")
    again = ComplianceReport.model_validate(dumped)
    assert again.model_dump(mode="json") == dumped
    assert dumped["schema_version"] == REPORT_SCHEMA_VERSION
