"""Request and response bodies of shelfscan's own API (``/api/v1``)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StoreIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=255)
    region: str | None = Field(default=None, max_length=128)


class StoreOut(_Out):
    code: str
    name: str
    region: str | None


class BayIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str | None = Field(default=None, max_length=255)


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


class AssignmentIn(BaseModel):
    planogram: str = Field(description="Planogram id")
    version: int | None = Field(default=None, ge=1, description="Default: the latest version")
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
