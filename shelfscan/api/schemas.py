"""Request and response bodies of shelfscan's own API (``/api/v1``)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shelfscan.compliance.report import Action, TrustSummary
from shelfscan.identifiers import IDENTIFIER_CHARACTERS, identifier_problem
from shelfscan.services.scans import ScanStatus

# Version numbers are stored as 32-bit integers; a larger one can name no version, and would
# overflow the database's parameter (2**63 once answered 500).
MAX_VERSION = 2**31 - 1


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _identifier(value: str) -> str:
    if (problem := identifier_problem(value)) is not None:
        raise ValueError(f"{problem} (identifiers: {IDENTIFIER_CHARACTERS})")
    return value


def _text(value: str | None) -> str | None:
    """Free text (names) may hold anything printable, never control characters (NUL, escapes,
    newlines), which end up in logs, CSV exports and HTML."""
    if value is not None and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters (NUL, newlines, escapes)")
    return value


# Codes follow shelfscan's one identifier grammar (shelfscan.identifiers); the pattern is for
# the OpenAPI document, the validator gives the reason.
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    AfterValidator(_identifier),
]
Text = Annotated[str, AfterValidator(_text)]


class _In(BaseModel):
    """shelfscan's own request bodies: a misspelt field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class StoreIn(_In):
    code: Identifier
    name: Text = Field(min_length=1, max_length=255)
    region: Text | None = Field(default=None, max_length=128)


class StoreOut(_Out):
    code: str
    name: str
    region: str | None


class BayIn(_In):
    code: Identifier
    name: Text | None = Field(default=None, max_length=255)


class AssignmentOut(BaseModel):
    planogram: str
    version: int
    effective_from: date
    effective_to: date | None


class BayOut(BaseModel):
    code: str
    name: str | None
    current_planogram: AssignmentOut | None = None
    assignments: list[AssignmentOut] = Field(default_factory=list)


class AssignmentIn(_In):
    planogram: str = Field(min_length=1, max_length=128, description="Planogram id")
    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the latest version"
    )
    effective_from: date
    effective_to: date | None = None


class PlanogramVersionOut(BaseModel):
    planogram: str
    name: str
    version: int
    sha256: str
    source_format: str
    comment: str | None
    created_at: datetime
    positions: int
    facings: int
    products: int
    fixtures: int


class PlanogramSummary(BaseModel):
    planogram: str
    name: str
    latest_version: int


class ValidationOut(BaseModel):
    valid: bool
    problems: list[dict[str, str]]


# --- scans -----------------------------------------------------------------------------------


class ScanPhotoOut(BaseModel):
    index: int
    url: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    content_type: str


class ScanSummaryOut(BaseModel):
    """A scan without its report (listings, the upload and retry answers)."""

    id: str
    url: str = Field(description="This scan's address")
    store: str
    bay: str | None
    status: ScanStatus
    attempts: int
    error: str | None = Field(description="Why the scan failed, or the last retried error")
    error_code: str | None = Field(description="Machine-readable reason; set when failed")
    taken_by: str | None
    planogram_version_id: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    photos: list[ScanPhotoOut]
    quality: dict[str, Any] | None = Field(description="Per photo quality and a retake hint")
    annotated_url: str | None = Field(description="The annotated photo, once done")


class ScanAcceptedOut(ScanSummaryOut):
    created: bool = Field(description="False when an earlier upload with this key made it")


class EvidenceOut(BaseModel):
    id: str = Field(description="The facing id, or detection-<id> for a product box")
    url: str = Field(description="The crop of the photo (JPEG)")


class ActionOut(Action):
    """One action of the report (``docs/report-schema.md``, *Actions*) with its crops."""

    evidence: list[EvidenceOut] = Field(default_factory=list)


class ScanOut(ScanSummaryOut):
    report: dict[str, Any] | None = Field(
        description="The compliance report of the first photo (schema: compliance report); "
        "null while not done and when inconclusive (its verdicts are not to be shown)"
    )
    evidence: dict[str, str] = Field(
        description="facing id -> crop of the photo around each facing with a problem"
    )
    actions: list[ActionOut] = Field(
        default_factory=list,
        description="What to do, in order, each with its evidence crops; empty when inconclusive",
    )
    trust: TrustSummary | None = Field(
        default=None,
        description="Whether the photo shows this bay readably; when inconclusive its reason, "
        "retake instruction and the bay the photo most likely shows",
    )


class ScanPageOut(BaseModel):
    total: int
    limit: int
    offset: int
    scans: list[ScanSummaryOut]
