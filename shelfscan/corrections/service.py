"""Corrections stored: who said what about which verdict of which scan, the report versions
they made, and the gallery crops they teach the recogniser.

:func:`correct` is the one way in (the API and tests use it): it applies the correction to the
scan's newest report, keeps every earlier version (version 1 is the analysis), writes the new
one to ``scans.report`` so that every reader sees the corrected verdict, rewrites the scan's
analytics facts, and adds the crop of a confirmed or corrected box to its product's gallery.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shelfscan.compliance.report import ComplianceReport, FacingStatus
from shelfscan.corrections.apply import (
    CorrectionError,
    CorrectionKind,
    ReviewedVerdict,
    apply_corrections,
)
from shelfscan.corrections.gallery import Gallery, GalleryExample
from shelfscan.corrections.models import Correction, GalleryEntry
from shelfscan.db.models import CatalogProduct, PlanogramVersion, Scan, ScanPhoto, Store
from shelfscan.images import load_image
from shelfscan.planogram.model import Planogram
from shelfscan.services.errors import BadRequest, Conflict
from shelfscan.services.scans import compliance_report, get_scan, record_report_change
from shelfscan.services.stores import planogram_from_version
from shelfscan.storage import Storage

log = logging.getLogger(__name__)

NEW_PRODUCT_PREFIX = "new-"
GALLERY_PREFIX = "gallery"
GALLERY_MARGIN = 0.0  # the detector's box as it is: what the recogniser will be shown


@dataclass(frozen=True)
class ProductChoice:
    product_id: str
    name: str
    gtin: str | None
    source: str  # planogram | catalogue | gallery


@dataclass(frozen=True)
class CorrectionResult:
    correction: Correction
    version: int
    report: ComplianceReport
    gallery_entry: GalleryEntry | None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:60] or "product"


def scan_planogram(session: Session, scan: Scan) -> Planogram:
    document = session.scalar(
        select(PlanogramVersion.document).where(PlanogramVersion.id == scan.planogram_version_id)
    )
    if document is None:
        raise Conflict("planogram_missing", "the scan's planogram version is gone")
    return planogram_from_version(document)


def search_products(
    session: Session, planogram: Planogram, query: str = "", *, limit: int = 20
) -> list[ProductChoice]:
    """Products a reviewer can pick: the scan's planogram first, then the catalogue and the
    products added from the field, whose id, name or GTIN contains ``query`` (any case)."""
    needle = query.strip().casefold()
    found: dict[str, ProductChoice] = {}

    def hit(*texts: str | None) -> bool:
        return not needle or any(needle in (t or "").casefold() for t in texts)

    for product in planogram.products:
        if hit(product.id, product.name, product.gtin):
            found[product.id] = ProductChoice(product.id, product.name, product.gtin, "planogram")
    pattern = f"%{needle}%"
    catalogue = select(CatalogProduct).order_by(CatalogProduct.name).limit(limit * 2)
    if needle:
        catalogue = catalogue.where(
            func.lower(CatalogProduct.name).like(pattern) | CatalogProduct.gtin.like(pattern)
        )
    names = {choice.name.casefold() for choice in found.values()}
    for item in session.scalars(catalogue):
        if item.name.casefold() in names:
            continue
        key = item.gtin or f"catalog-{item.id}"
        found.setdefault(key, ProductChoice(key, item.name, item.gtin, "catalogue"))
    added = (
        select(GalleryEntry.product_key, GalleryEntry.product_name, GalleryEntry.gtin)
        .where(GalleryEntry.new_product.is_(True))
        .distinct()
    )
    for key, name, gtin in session.execute(added):
        if hit(key, name, gtin):
            found.setdefault(key, ProductChoice(key, name, gtin, "gallery"))
    return list(found.values())[:limit]


def _choice(session: Session, planogram: Planogram, product_id: str) -> ProductChoice | None:
    for choice in search_products(session, planogram, "", limit=10_000):
        if choice.product_id == product_id:
            return choice
    return None


def _photo(session: Session, storage: Storage, scan: Scan) -> Image.Image | None:
    key = session.scalar(
        select(ScanPhoto.storage_key).where(ScanPhoto.scan_id == scan.id, ScanPhoto.index == 0)
    )
    if key is None:
        return None
    try:
        return load_image(storage.get(key)).convert("RGB")
    except Exception:  # a lost photo must not lose the correction
        log.exception("scan photo unreadable for the gallery", extra={"scan_id": scan.id})
        return None


def _judged_box(report: ComplianceReport, verdict: ReviewedVerdict) -> dict[str, Any] | None:
    """The pixels judged, and the detector's label and confidence there."""
    if verdict.facing_id is not None:
        try:
            facing = report.facing(verdict.facing_id)
        except KeyError:
            return None
        box = facing.evidence.box if facing.evidence.box.w > 0 else facing.expected_box
        return {
            "xyxy": [box.x, box.y, box.x + box.w, box.y + box.h],
            "source": facing.evidence.source.value,
            "confidence": facing.evidence.confidence,
            "detection_id": facing.evidence.detection_id,
        }
    for item in report.unexpected:
        if item.detection_id == verdict.detection_id:
            box = item.box
            return {
                "xyxy": [box.x, box.y, box.x + box.w, box.y + box.h],
                "source": "detection",
                "confidence": item.confidence,
                "detection_id": item.detection_id,
            }
    return None


def detector_name(settings: Any) -> str:
    backend = getattr(settings, "detector_backend", None)
    model = getattr(settings, "model_path", None)
    name = getattr(backend, "value", str(backend))
    return f"{name}:{model.stem}" if model is not None and name == "yolo" else str(name)


def correct(
    session: Session,
    storage: Storage,
    *,
    store_code: str,
    scan_id: str,
    kind: CorrectionKind,
    by: str,
    facing_id: str | None = None,
    detection_id: str | None = None,
    product_id: str | None = None,
    new_product_name: str | None = None,
    new_product_gtin: str | None = None,
    detector: str | None = None,
) -> CorrectionResult:
    """Record one correction and make the corrected verdict the scan's report."""
    store, scan = get_scan(session, store_code, scan_id)
    if scan.report is None or scan.status != "done":
        raise Conflict("scan_not_reviewable", f"scan {scan_id} has no conclusive report to correct")
    planogram = scan_planogram(session, scan)
    product_name: str | None = None
    new_product = False
    if new_product_name is not None:
        if kind is not CorrectionKind.PRODUCT:
            raise BadRequest(
                "invalid_correction",
                "new_product_name goes with kind 'product'",
                field="new_product_name",
            )
        new_product_name = new_product_name.strip()
        if not new_product_name or len(new_product_name) > 255:
            raise BadRequest(
                "invalid_correction",
                "new_product_name: 1 to 255 characters",
                field="new_product_name",
            )
        product_id = product_id or f"{NEW_PRODUCT_PREFIX}{_slug(new_product_name)}"
        product_name = new_product_name
        new_product = True
    elif kind is CorrectionKind.PRODUCT:
        if not product_id:
            raise BadRequest(
                "invalid_correction", "product_id: required for kind 'product'", field="product_id"
            )
        choice = _choice(session, planogram, product_id)
        if choice is None:
            raise BadRequest(
                "unknown_product",
                f"product_id: {product_id!r} is not a product of the planogram, the catalogue "
                "or the gallery (search them: GET .../products?q=)",
                field="product_id",
            )
        product_name = choice.name
    current = compliance_report(scan.report)
    verdict = ReviewedVerdict(
        kind=kind,
        by=by,
        facing_id=facing_id,
        detection_id=detection_id,
        product_id=product_id,
        product_name=product_name,
    )
    judged = _judged_box(current, verdict)
    try:
        corrected, changes = apply_corrections(current, planogram, [verdict])
    except CorrectionError as error:
        field = str(error).split(":", 1)[0]
        raise BadRequest("invalid_correction", str(error), field=field) from None
    document = corrected.model_dump(mode="json")
    version = record_report_change(session, scan, document, created_by=by)
    change = changes[0]
    correction = Correction(
        scan_id=scan.id,
        store_id=store.id,
        facing_id=facing_id,
        detection_id=detection_id or (judged or {}).get("detection_id"),
        kind=kind.value,
        status_before=change.status_before,
        status_after=change.status_after,
        product_before=change.product_before,
        product_after=change.product_after,
        box=judged,
        detector=detector,
        confidence=(judged or {}).get("confidence"),
        report_version=version,
        created_by=by,
    )
    session.add(correction)
    session.flush()
    entry = _teach_gallery(
        session,
        storage,
        scan,
        store,
        correction,
        current,
        verdict,
        judged,
        product_name=product_name,
        new_product=new_product,
        gtin=new_product_gtin,
    )
    rewrite_scan_facts(session, scan.id, document)
    return CorrectionResult(correction, version, corrected, entry)


def _teach_gallery(
    session: Session,
    storage: Storage,
    scan: Scan,
    store: Store,
    correction: Correction,
    before: ComplianceReport,
    verdict: ReviewedVerdict,
    judged: dict[str, Any] | None,
    *,
    product_name: str | None,
    new_product: bool,
    gtin: str | None,
) -> GalleryEntry | None:
    """The crop of a box a person named (confirmed, or corrected to a product) joins that
    product's gallery. Only a detector's box: an inferred gap's box is a guess of where the
    product should stand, not a picture of it."""
    if judged is None or judged["source"] != "detection":
        return None
    if verdict.kind is CorrectionKind.PRODUCT:
        product_key, name = verdict.product_id, product_name or verdict.product_id
    elif verdict.kind is CorrectionKind.CONFIRM and verdict.facing_id is not None:
        facing = before.facing(verdict.facing_id)
        if facing.status not in (FacingStatus.OK, FacingStatus.MISPLACED):
            return None
        product_key = facing.found_product_id
        name = facing.found_label or product_key
    else:
        return None
    if not product_key:
        return None
    photo = _photo(session, storage, scan)
    if photo is None:
        return None
    x1, y1, x2, y2 = judged["xyxy"]
    box = (
        max(0, round(x1)),
        max(0, round(y1)),
        min(photo.width, round(x2)),
        min(photo.height, round(y2)),
    )
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return None
    crop = photo.crop(box)
    example = GalleryExample.from_crop(product_key, name or product_key, crop)
    key = f"{GALLERY_PREFIX}/{_slug(product_key)}/{scan.id}-{correction.id}.jpg"
    out = io.BytesIO()
    crop.save(out, "JPEG", quality=90)
    storage.put(key, out.getvalue(), "image/jpeg")
    entry = GalleryEntry(
        product_key=product_key,
        product_name=name or product_key,
        gtin=gtin,
        new_product=new_product,
        storage_key=key,
        features=example.document(),
        store_id=store.id,
        scan_id=scan.id,
        correction_id=correction.id,
        created_by=verdict.by,
    )
    session.add(entry)
    session.flush()
    return entry


def load_gallery(session: Session) -> Gallery:
    rows = session.execute(
        select(
            GalleryEntry.id,
            GalleryEntry.product_key,
            GalleryEntry.product_name,
            GalleryEntry.features,
        ).order_by(GalleryEntry.id)
    )
    examples = []
    for entry_id, key, name, features in rows:
        try:
            examples.append(GalleryExample.from_document(key, name, features, entry_id))
        except ValueError:
            log.warning("gallery entry skipped: bad features", extra={"entry_id": entry_id})
    return Gallery(examples)


def gallery_stamp(session: Session) -> tuple[int, int]:
    """Changes whenever an entry is added or removed: when to load the gallery again."""
    count, newest = session.execute(
        select(func.count(GalleryEntry.id), func.coalesce(func.max(GalleryEntry.id), 0))
    ).one()
    return int(count), int(newest)


def corrections_of(session: Session, scan_id: str) -> Sequence[Correction]:
    return list(
        session.scalars(
            select(Correction).where(Correction.scan_id == scan_id).order_by(Correction.id)
        )
    )


def rewrite_scan_facts(session: Session, scan_id: str, report: dict[str, Any]) -> None:
    """Everywhere the scan's facts are used: analytics' per-facing facts and what is derived
    from them are rewritten from the corrected report, in a savepoint (a failure here never
    loses the correction; ``shelfscan analytics rebuild`` catches up)."""
    from shelfscan.analytics import facts

    try:
        with session.begin_nested():
            facts.rewrite_scan_facts(session, scan_id, report)
    except Exception:
        log.exception(
            "analytics facts not rewritten after a correction", extra={"scan_id": scan_id}
        )
