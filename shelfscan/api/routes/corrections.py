"""Human review API: confirm or correct a scan's verdicts, the report versions that makes,
product search for "this is product X", the review queue and field accuracy.

A correction answers with the scan as ``GET .../scans/{id}`` shows it, now with the corrected
verdicts (a new report version; the earlier ones are kept): the page redraws from it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shelfscan.api.routes.scans import scan_out
from shelfscan.auth.roles import Permission as P
from shelfscan.corrections.accuracy import GROUPS, field_accuracy, review_queue
from shelfscan.corrections.apply import CorrectionKind
from shelfscan.corrections.service import (
    correct,
    corrections_of,
    detector_name,
    scan_planogram,
    search_products,
)
from shelfscan.db.models import Bay
from shelfscan.db.session import session_scope
from shelfscan.services.errors import BadRequest
from shelfscan.services.scans import get_scan, report_history
from shelfscan.settings import Settings
from shelfscan.storage import get_storage

STORE = "/api/v1/stores/{store_code}"
SCAN = f"{STORE}/scans/{{scan_id}}"

# Who may call what (merged into shelfscan.api.security.ROUTE_PERMISSIONS below): people of
# the store correct its scans; auditors (head office, managers) read the queue and accuracy.
ROUTE_PERMISSIONS: dict[tuple[str, str], P] = {
    ("POST", f"{SCAN}/corrections"): P.CORRECTIONS_WRITE,
    ("GET", f"{SCAN}/corrections"): P.SCANS_READ,
    ("GET", f"{SCAN}/products"): P.SCANS_READ,
    ("GET", f"{STORE}/review-queue"): P.REVIEW_READ,
    ("GET", f"{STORE}/field-accuracy"): P.REVIEW_READ,
    ("GET", "/api/v1/review-queue"): P.REVIEW_READ,
    ("GET", "/api/v1/field-accuracy"): P.REVIEW_READ,
}


def _declare() -> None:
    from shelfscan.api.security import ROUTE_PERMISSIONS as ALL

    ALL.update(ROUTE_PERMISSIONS)


_declare()

router = APIRouter(tags=["review"])
T = TypeVar("T")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _work(request: Request, work: Callable[[Session], T]) -> T:
    with session_scope(_settings(request).resolved_database_url) as session:
        return work(session)


def _actor(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return "anonymous"
    return principal.associate or getattr(principal, "actor", None) or principal.name


def _stores(request: Request, store_code: str | None = None) -> Any:
    """The store ids the caller may review: one store, or every store in the caller's scope
    (None: no access control in this app)."""
    from sqlalchemy import select

    from shelfscan.db.models import Store

    if store_code is not None:
        return select(Store.id).where(Store.code == store_code)
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    from shelfscan.auth.scope import visible_store_ids

    return visible_store_ids(principal, P.REVIEW_READ)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CorrectionKind = Field(
        description="confirm | product (this is product X) | not_gap (the product is there) "
        "| gap (nothing there) | not_this_bay (the photo shows another bay)"
    )
    facing_id: str | None = Field(default=None, max_length=128)
    detection_id: str | None = Field(
        default=None, max_length=128, description="An unexpected product's box"
    )
    product_id: str | None = Field(default=None, max_length=128, description="kind=product")
    new_product_name: str | None = Field(
        default=None,
        max_length=255,
        description="kind=product: a product in no planogram or catalogue; the crop becomes "
        "the first gallery entry of this new product",
    )
    new_product_gtin: str | None = Field(default=None, max_length=14)


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scan_id: str
    facing_id: str | None
    detection_id: str | None
    kind: str
    status_before: str | None
    status_after: str | None
    product_before: str | None
    product_after: str | None
    box: dict[str, Any] | None
    detector: str | None
    report_version: int
    created_by: str
    created_at: datetime


class CorrectedOut(BaseModel):
    correction: CorrectionOut
    report_version: int
    gallery_entry_id: int | None
    scan: Any = Field(description="The scan with its corrected report (as GET .../scans/{id})")


class VersionOut(BaseModel):
    version: int
    created_by: str | None
    created_at: datetime


class ReviewOut(BaseModel):
    corrections: list[CorrectionOut]
    versions: list[VersionOut]


class ProductOut(BaseModel):
    product_id: str
    name: str
    gtin: str | None
    source: str


@router.post(
    f"{SCAN}/corrections",
    status_code=201,
    response_model=CorrectedOut,
    summary="Confirm or correct one verdict of a scan",
)
def post_correction(
    request: Request, store_code: str, scan_id: str, body: CorrectionIn
) -> CorrectedOut:
    if body.kind is not CorrectionKind.NOT_THIS_BAY and not (body.facing_id or body.detection_id):
        raise BadRequest(
            "invalid_correction", "facing_id or detection_id: say which verdict", field="facing_id"
        )
    settings = _settings(request)
    storage = get_storage(settings)

    def work(session: Session) -> CorrectedOut:
        result = correct(
            session,
            storage,
            store_code=store_code,
            scan_id=scan_id,
            kind=body.kind,
            by=_actor(request),
            facing_id=body.facing_id,
            detection_id=body.detection_id,
            product_id=body.product_id,
            new_product_name=body.new_product_name,
            new_product_gtin=body.new_product_gtin,
            detector=detector_name(settings),
        )
        session.flush()
        _, scan = get_scan(session, store_code, scan_id)
        _ = scan.photos
        bay = session.get(Bay, scan.bay_id)
        return CorrectedOut(
            correction=CorrectionOut.model_validate(result.correction),
            report_version=result.version,
            gallery_entry_id=result.gallery_entry.id if result.gallery_entry else None,
            scan=scan_out(request, store_code, bay.code if bay else None, scan).model_dump(
                mode="json"
            ),
        )

    return _work(request, work)


@router.get(f"{SCAN}/corrections", response_model=ReviewOut, summary="A scan's corrections")
def get_corrections(request: Request, store_code: str, scan_id: str) -> ReviewOut:
    def work(session: Session) -> ReviewOut:
        get_scan(session, store_code, scan_id)
        return ReviewOut(
            corrections=[CorrectionOut.model_validate(c) for c in corrections_of(session, scan_id)],
            versions=[
                VersionOut(version=v.version, created_by=v.created_by, created_at=v.created_at)
                for v in report_history(session, scan_id)
            ],
        )

    return _work(request, work)


@router.get(
    f"{SCAN}/products",
    response_model=list[ProductOut],
    summary="Products to name a box with: the scan's planogram, the catalogue, new ones",
)
def get_products(
    request: Request,
    store_code: str,
    scan_id: str,
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ProductOut]:
    def work(session: Session) -> list[ProductOut]:
        _, scan = get_scan(session, store_code, scan_id)
        planogram = scan_planogram(session, scan)
        return [
            ProductOut(**asdict(c)) for c in search_products(session, planogram, q, limit=limit)
        ]

    return _work(request, work)


def _queue(request: Request, store_code: str | None, limit: int) -> list[dict[str, Any]]:
    return _work(
        request,
        lambda session: [
            asdict(item)
            for item in review_queue(session, _stores(request, store_code), limit=limit)
        ],
    )


def _accuracy(request: Request, store_code: str | None, by: str) -> list[dict[str, Any]]:
    if by not in GROUPS:
        raise BadRequest("invalid_parameter", f"by: one of {', '.join(GROUPS)}", field="by")
    return _work(
        request,
        lambda session: [
            asdict(row) for row in field_accuracy(session, _stores(request, store_code), by=by)
        ],
    )


Limit = Annotated[int, Query(ge=1, le=500)]
By = Annotated[str, Query(description="product | store | detector")]


@router.get(
    f"{STORE}/review-queue", summary="Verdicts worth a look, highest expected benefit first"
)
def store_queue(request: Request, store_code: str, limit: Limit = 50) -> list[dict[str, Any]]:
    return _queue(request, store_code, limit)


@router.get("/api/v1/review-queue", summary="The review queue over every store in scope")
def chain_queue(request: Request, limit: Limit = 50) -> list[dict[str, Any]]:
    return _queue(request, None, limit)


@router.get(f"{STORE}/field-accuracy", summary="Confirmed vs corrected verdicts")
def store_accuracy(request: Request, store_code: str, by: By = "product") -> list[dict[str, Any]]:
    return _accuracy(request, store_code, by)


@router.get("/api/v1/field-accuracy", summary="Confirmed vs corrected, every store in scope")
def chain_accuracy(request: Request, by: By = "product") -> list[dict[str, Any]]:
    return _accuracy(request, None, by)
