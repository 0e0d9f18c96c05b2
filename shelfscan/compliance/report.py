"""The compliance report: what stands in every planogram facing, and the scores.

Versioned: ``schema_version`` changes its major number when a field is removed or changes
meaning, its minor number when fields are added. ``docs/report-schema.md`` documents every
field; ``docs/report.schema.json`` is generated from these models (``write_json_schema``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA_VERSION = "1.3"


class FacingStatus(StrEnum):
    OK = "ok"
    GAP = "gap"
    MISPLACED = "misplaced"
    NOT_VISIBLE = "not_visible"


class EvidenceSource(StrEnum):
    DETECTION = "detection"  # a product box the detector found
    GAP_DETECTION = "gap_detection"  # a gap box the detector found
    INFERRED = "inferred"  # empty shelf space: no box at all where the product should be
    OUTSIDE_PHOTO = "outside_photo"


class UnexpectedKind(StrEnum):
    NOT_IN_PLANOGRAM = "not_in_planogram"
    EXTRA_FACING = "extra_facing"


_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_new = object.__new__


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def trusted(cls, **values: Any):  # type: ignore[no-untyped-def]
        """Build from values the engine computed itself, every field given, without
        validation: ``model_construct`` costs ~10 µs an object, which is most of a match."""
        return cls.from_trusted_dict(values)

    @classmethod
    def from_trusted_dict(cls, values: dict[str, Any]):  # type: ignore[no-untyped-def]
        """``trusted`` for a dict the caller hands over (it becomes the model's ``__dict__``);
        the hot path of report building: about 0.3 µs an object."""
        obj = _new(cls)
        _set_dict(obj, values)
        _set_fields_set(obj, set(values))
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj


def trusted_maker(cls: type[_Model]):  # type: ignore[no-untyped-def]
    """A fast ``from_trusted_dict`` for one class, whose dicts must hold every field.

    The set of fields set is then the same for every object of the class, so they share one
    set: pydantic only ever adds a field's name to it (on attribute assignment), which for a
    set already holding every field changes nothing.
    """
    fields = set(cls.model_fields)

    def make(values: dict[str, Any]):  # type: ignore[no-untyped-def]
        obj = _new(cls)
        _set_dict(obj, values)
        _set_fields_set(obj, fields)
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj

    return make


class Box(_Model):
    """Pixels of the original photo, origin top-left."""

    x: float
    y: float
    w: float
    h: float


class Evidence(_Model):
    source: EvidenceSource
    box: Box
    detection_id: str | None = None
    label: str | None = Field(default=None, description="The detector's top label")
    confidence: float | None = None
    photo: int | None = Field(
        default=None,
        description="(1.3) index of the scan's photo the box is in (several photos merged); "
        "null: the report's only photo",
    )


class FacingResult(_Model):
    facing_id: str
    position_id: str
    product_id: str
    product_name: str
    fixture_id: str
    status: FacingStatus
    reason: str
    expected_box: Box = Field(description="Where the planned product should be, in pixels")
    evidence: Evidence
    found_product_id: str | None = Field(
        default=None, description="Planogram product seen here (ok and misplaced)"
    )
    found_label: str | None = Field(default=None, description="Label seen here, as detected")
    shift_facings: float | None = Field(
        default=None, description="Horizontal offset of the product from its planned spot"
    )
    visible_fraction: float = Field(description="Share of the expected box inside the photo")


class UnexpectedProduct(_Model):
    detection_id: str
    label: str
    product_id: str | None
    confidence: float
    box: Box
    kind: UnexpectedKind
    fixture_id: str | None
    reason: str
    photo: int | None = Field(
        default=None,
        description="(1.3) index of the scan's photo the box is in; null: the only photo",
    )


class Scores(_Model):
    """Shares in [0, 1]; null when nothing planned is visible in the scope. Definitions,
    with a worked example: ``docs/kpis.md``."""

    on_shelf_availability: float | None = Field(
        default=None,
        description="(1.2) on-shelf availability (OSA): ok facings / planned facings in view",
    )
    out_of_stock_rate: float | None = Field(
        default=None, description="(1.2) gap facings / planned facings in view (0 is good)"
    )
    planogram_compliance: float | None = Field(
        default=None,
        description="(1.2) ok facings / (planned facings in view + unexpected facings)",
    )
    facings_compliance: float | None = Field(
        description="sum of min(found, planned) facings / sum of planned facings (visible)"
    )
    position_compliance: float | None = Field(
        description="Deprecated (1.2): ok facings / visible facings; "
        "use on_shelf_availability or planogram_compliance"
    )
    availability: float | None = Field(
        description="Deprecated (1.2): products found at least once / products planned "
        "(visible); not on-shelf availability, use on_shelf_availability"
    )


class Counts(_Model):
    facings: int
    visible: int
    ok: int
    gap: int
    misplaced: int
    not_visible: int
    unexpected: int


class ProductSummary(_Model):
    product_id: str
    product_name: str
    expected: int = Field(description="Planned facings")
    visible: int = Field(description="Planned facings inside the photo")
    found: int = Field(description="Facings of this product seen anywhere on the bay")
    in_place: int
    gap: int
    misplaced: int
    scores: Scores


class FixtureSummary(_Model):
    fixture_id: str
    counts: Counts
    scores: Scores


class RowSummary(_Model):
    row: int
    level: int | None
    bottom_px: float
    scale_x: float
    offset_x: float
    detections: int
    label_inliers: int


class RegistrationSummary(_Model):
    """``x_px = scale_x * x_units + offset_x`` (per row: ``rows``), ``y`` likewise, in the
    photo rotated by ``-rotation_deg`` about its centre."""

    method: str
    rotation_deg: float
    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    label_inliers: int
    labelled_detections: int
    rows: list[RowSummary]
    warnings: list[str]


class IgnoredDetections(_Model):
    duplicates: list[str] = Field(default_factory=list)
    outside_planogram: list[str] = Field(default_factory=list)
    unused_gap_boxes: list[str] = Field(default_factory=list)


class DetectorLabels(_Model):
    """How the detector's class names resolved to this planogram's products (schema 1.1)."""

    resolved: dict[str, str] = Field(
        default_factory=dict, description="class name -> product id, for classes seen"
    )
    unmapped: dict[str, int] = Field(
        default_factory=dict,
        description="class name -> boxes, for classes naming no product of the catalogue "
        "(kept, and reported as unexpected products)",
    )
    ignored: dict[str, int] = Field(
        default_factory=dict,
        description="class name -> boxes dropped because the label map maps the class to null",
    )


class ImageInfo(_Model):
    width: int
    height: int


class ActionKind(StrEnum):
    FILL = "fill"
    REPLACE = "replace"
    MOVE = "move"
    REMOVE = "remove"
    PHOTOGRAPH = "photograph"


class Action(_Model):
    """One thing a clerk does at the shelf (schema 1.2); built by
    ``shelfscan.compliance.actions.build_actions``."""

    number: int = Field(description="1, 2, ... in list order: the marker on the annotated photo")
    kind: ActionKind
    text: str = Field(description="The sentence to show: product names and the location")
    product_id: str | None
    product_name: str | None
    other_product_id: str | None = Field(
        default=None, description="replace: the product found there instead"
    )
    other_product_name: str | None = None
    count: int = Field(description="Facings concerned")
    shelf_from_top: int | None = Field(description="1 = top shelf; null when unknown or spanning")
    positions_from_left: list[int] = Field(
        description="Facing positions on that shelf, 1 = leftmost"
    )
    location_text: str
    facing_ids: list[str] = Field(default_factory=list)
    detection_ids: list[str] = Field(default_factory=list)
    out_of_stock: bool = Field(
        default=False, description="fill: no facing of the product is seen on the bay"
    )
    priority: int = Field(description="0 most urgent; the list is sorted by it")


class LikelyBay(_Model):
    bay: str
    planogram_id: str
    planogram_name: str
    named_boxes: int
    label_share: float | None
    product_overlap: float | None
    explained_share: float | None = None


class TrustSummary(_Model):
    """Whether the photo shows this bay, readably (schema 1.2; ``shelfscan.compliance.trust``)."""

    conclusive: bool
    reason: str | None = Field(description="Why not conclusive (a TrustReason value)")
    instruction: str | None = Field(description="What to do: the retake instruction")
    likely_bay: LikelyBay | None = Field(description="The bay the photo most likely shows")
    figures: dict[str, Any] = Field(description="What the verdict was decided on")


class Extent(_Model):
    """A rectangle in planogram units, origin top-left."""

    x: float
    y: float
    w: float
    h: float


class PhotoSummary(_Model):
    """One photo of a scan merged from several (schema 1.3; ``shelfscan.compliance.merge``)."""

    index: int = Field(description="0, 1, ... in upload order; boxes name it as ``photo``")
    used: bool = Field(description="False: the photo was left out (its trust check failed)")
    left_out_reason: str | None = Field(description="Why it was left out (a TrustReason value)")
    instruction: str | None = Field(description="The retake instruction for a left-out photo")
    image: ImageInfo
    quality: dict[str, Any] | None = Field(description="The upload quality check's figures")
    registration: RegistrationSummary
    trust: TrustSummary | None
    facings_in_view: int = Field(description="Facings this photo judged (not not_visible)")
    facings_chosen: int = Field(description="Facings whose verdict comes from this photo")
    view: Extent | None = Field(
        description="Planogram units spanned by the facings this photo judged; null: none"
    )


class ComplianceReport(_Model):
    schema_version: str = REPORT_SCHEMA_VERSION
    planogram_id: str
    planogram_name: str
    unit: str
    image: ImageInfo
    scores: Scores
    counts: Counts
    facings: list[FacingResult]
    unexpected: list[UnexpectedProduct]
    products: list[ProductSummary]
    fixtures: list[FixtureSummary]
    registration: RegistrationSummary
    ignored: IgnoredDetections
    detector_labels: DetectorLabels | None = Field(
        default=None, description="Set when a label map translated the detector's classes"
    )
    timings_ms: dict[str, float] = Field(default_factory=dict)
    actions: list[Action] = Field(
        default_factory=list,
        description="(1.2) what to do, grouped and sorted; empty when inconclusive",
    )
    trust: TrustSummary | None = Field(
        default=None, description="(1.2) the trust check's verdict; null when none ran"
    )
    photos: list[PhotoSummary] = Field(
        default_factory=list,
        description="(1.3) per photo of a scan merged from its photos: quality, registration, "
        "trust and coverage; empty for a report of one photo made outside a scan",
    )

    def facing(self, facing_id: str) -> FacingResult:
        for result in self.facings:
            if result.facing_id == facing_id:
                return result
        raise KeyError(facing_id)

    def ids_with_status(self, status: FacingStatus) -> list[str]:
        return [f.facing_id for f in self.facings if f.status == status]


def report_json_schema() -> dict[str, Any]:
    schema = ComplianceReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"shelfscan compliance report {REPORT_SCHEMA_VERSION}"
    return schema


def write_json_schema(path: Path) -> None:
    path.write_text(json.dumps(report_json_schema(), indent=2, sort_keys=True) + "\n")
