"""Reviewed scans as training data: ``shelfscan corrections export --format yolo``.

Every scan a person reviewed (at least one correction or confirmation) is written with the
labels of its newest report, that is with the corrections applied: a facing corrected to
product X is labelled X, a facing marked "not a gap" is labelled with its planned product in
its expected box, a "gap: nothing there" loses its label, an unexpected box renamed by a
person gets the product the person named. Scans a person said show another bay are left out
(nothing on them can be vouched for against the planogram).

The layout is the renderer's (``shelfscan.synth.dataset``): ``data.yaml``, ``classes.json``
(class index -> product id, name, GTIN), ``images/{train,val}``, ``labels/{train,val}``, plus
``reviews/{split}/<image>.json`` (scan, store, report version, corrections). Class indices
follow ``classes`` when given (a render dataset's ``classes.json`` or a model's label
sidecar), so the export lines up with a model's class map; products it lacks are appended.
``shelfscan train --extra-data`` mixes such a folder into a render dataset
(``shelfscan.training.mix``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.compliance.report import ComplianceReport, EvidenceSource, FacingStatus
from shelfscan.corrections.apply import CorrectionKind
from shelfscan.corrections.models import Correction
from shelfscan.db.models import Scan, ScanPhoto, Store
from shelfscan.images import ImageDecodeError, load_image
from shelfscan.services.scans import compliance_report
from shelfscan.storage import Storage
from shelfscan.synth.dataset import ClassEntry, write_dataset_index

EXPORT_FORMATS = ("yolo",)
FIELD_PREFIX = "field"  # image stems: field_<store>_<scan id>


@dataclass(frozen=True)
class LabelledBox:
    """One labelled product in a photo: pixels x1 y1 x2 y2 of the analysed (upright) image."""

    product_id: str
    name: str
    xyxy: tuple[float, float, float, float]


@dataclass
class ExportSummary:
    out_dir: Path
    data_yaml: Path
    classes: list[ClassEntry]
    train_images: int
    val_images: int
    boxes: int
    skipped: dict[str, int] = field(default_factory=dict)  # why -> scans left out


def _on_first_photo(photo: int | None) -> bool:
    # Boxes of a multi-photo scan name their photo; the export writes the first photo only.
    return photo in (None, 0)


def labelled_boxes(
    report: ComplianceReport, renamed: dict[str, str] | None = None
) -> list[LabelledBox]:
    """The products a (corrected) report says are in the photo, with their boxes.

    ``renamed`` maps an unexpected box's detection id to the product id a person gave it (a
    report keeps only planogram products' ids on unexpected boxes; the label is the name).
    Unexpected boxes nobody named are left unlabelled; so are gaps and facings out of view."""
    renamed = renamed or {}
    boxes: list[LabelledBox] = []
    seen_detections: set[str] = set()
    for facing in report.facings:
        if facing.status not in (FacingStatus.OK, FacingStatus.MISPLACED):
            continue
        if not facing.found_product_id or not _on_first_photo(facing.evidence.photo):
            continue
        detected = facing.evidence.source is EvidenceSource.DETECTION and facing.evidence.box.w > 0
        # "Not a gap" leaves no detector box: the planned place is the best box there is.
        box = facing.evidence.box if detected else facing.expected_box
        if box.w <= 0 or box.h <= 0:
            continue
        if detected and facing.evidence.detection_id:
            seen_detections.add(facing.evidence.detection_id)
        boxes.append(
            LabelledBox(
                facing.found_product_id,
                facing.found_label or facing.found_product_id,
                (box.x, box.y, box.x + box.w, box.y + box.h),
            )
        )
    for item in report.unexpected:
        if item.detection_id in seen_detections or not _on_first_photo(item.photo):
            continue
        product_id = renamed.get(item.detection_id) or item.product_id
        if not product_id:
            continue
        box = item.box
        boxes.append(
            LabelledBox(product_id, item.label, (box.x, box.y, box.x + box.w, box.y + box.h))
        )
    return boxes


def yolo_lines(
    boxes: Iterable[LabelledBox], class_of: dict[str, int], width: int, height: int
) -> list[str]:
    """``class cx cy w h`` lines, normalised, clipped to the image."""
    lines = []
    for item in boxes:
        x1, y1, x2, y2 = item.xyxy
        x1, x2 = max(0.0, x1), min(float(width), x2)
        y1, y2 = max(0.0, y1), min(float(height), y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lines.append(
            f"{class_of[item.product_id]} {(x1 + x2) / 2 / width:.6f} "
            f"{(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return lines


def read_class_entries(path: Path) -> list[ClassEntry]:
    """Class entries from a dataset's ``classes.json`` or a model's ``.labels.json``."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"classes: cannot read {path} ({error})") from None
    raw = document.get("classes") if isinstance(document.get("classes"), list) else None
    raw = raw if raw is not None else document.get("class_entries")
    if not isinstance(raw, list):
        raise ValueError(
            f"classes: {path} has no class list ('classes' in a dataset's classes.json, "
            "'class_entries' in a model's .labels.json)"
        )
    entries = [
        ClassEntry(int(c["index"]), str(c["name"]), c.get("product_id"), c.get("gtin")) for c in raw
    ]
    if sorted(e.index for e in entries) != list(range(len(entries))):
        raise ValueError(f"classes: {path}: class indices must be 0..{len(entries) - 1}")
    return sorted(entries, key=lambda e: e.index)


def extend_classes(
    base: Sequence[ClassEntry], products: Iterable[tuple[str, str, str | None]]
) -> list[ClassEntry]:
    """``base`` followed by a class for each (product id, name, GTIN) it lacks; a name already
    taken gets the id appended (the renderer's rule)."""
    entries = list(base)
    known = {e.product_id for e in entries if e.product_id}
    names = {e.name for e in entries}
    for product_id, name, gtin in products:
        if product_id in known:
            continue
        label = name if name not in names else f"{name} ({product_id})"
        entries.append(ClassEntry(len(entries), label, product_id, gtin))
        known.add(product_id)
        names.add(label)
    return entries


def _is_val(scan_id: str, val_fraction: float) -> bool:
    # Stable across exports: a scan stays in its split when more reviews arrive.
    digest = hashlib.sha256(scan_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < val_fraction


def export_yolo(
    session: Session,
    storage: Storage,
    out_dir: Path | str,
    *,
    classes: Sequence[ClassEntry] = (),
    store_codes: Sequence[str] = (),
    val_fraction: float = 0.2,
    jpeg_quality: int = 92,
) -> ExportSummary:
    """Write every reviewed scan's first photo with its corrected labels as a YOLO dataset."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction: must be in [0, 1), got {val_fraction}")
    out = Path(out_dir).resolve()
    reviewed = select(Correction.scan_id).distinct()
    query = (
        select(Scan, Store.code)
        .join(Store, Store.id == Scan.store_id)
        .where(Scan.id.in_(reviewed), Scan.report.is_not(None))
        .order_by(Scan.created_at, Scan.id)
    )
    if store_codes:
        query = query.where(Store.code.in_(list(store_codes)))
    skipped: dict[str, int] = {}
    pending: list[tuple[str, str, str, Any, list[LabelledBox], list[Correction], int]] = []
    for scan, store_code in session.execute(query).all():
        report = compliance_report(scan.report)
        if report.trust is not None and not report.trust.conclusive:
            skipped["inconclusive (e.g. not this bay)"] = (
                skipped.get("inconclusive (e.g. not this bay)", 0) + 1
            )
            continue
        corrections = list(
            session.scalars(
                select(Correction).where(Correction.scan_id == scan.id).order_by(Correction.id)
            )
        )
        renamed = {
            c.detection_id: c.product_after
            for c in corrections
            if c.kind == CorrectionKind.PRODUCT.value
            and c.facing_id is None
            and c.detection_id
            and c.product_after
        }
        key = session.scalar(
            select(ScanPhoto.storage_key).where(ScanPhoto.scan_id == scan.id, ScanPhoto.index == 0)
        )
        if key is None or not storage.exists(key):
            skipped["photo missing"] = skipped.get("photo missing", 0) + 1
            continue
        version = max((c.report_version for c in corrections), default=1)
        pending.append(
            (
                scan.id,
                store_code,
                key,
                report,
                labelled_boxes(report, renamed),
                corrections,
                version,
            )
        )

    # A class's name: the planogram's product name where the product is planned, else the
    # name the person chose (the label on the box).
    names: dict[str, str] = {}
    for _, _, _, report, _, _, _ in pending:
        for product in report.products:
            names.setdefault(product.product_id, product.product_name)
    used = [(b.product_id, names.get(b.product_id, b.name), None) for p in pending for b in p[4]]
    entries = extend_classes(classes, used)
    class_of = {e.product_id: e.index for e in entries if e.product_id}

    for kind in ("images", "labels", "reviews"):
        for split in ("train", "val"):
            (out / kind / split).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    total_boxes = 0
    for position, (scan_id, store_code, key, report, boxes, corrections, version) in enumerate(
        pending
    ):
        split = "val" if _is_val(scan_id, val_fraction) else "train"
        # A dataset with images needs one validation image: the last scan, if none fell there.
        last = position == len(pending) - 1
        if last and val_fraction > 0 and counts["val"] == 0 and counts["train"] > 0:
            split = "val"
        try:
            image = load_image(storage.get(key))
        except (ImageDecodeError, OSError):
            skipped["photo unreadable"] = skipped.get("photo unreadable", 0) + 1
            continue
        width, height = image.size
        # Boxes are in the analysed image's pixels; a stored photo of another size is scaled.
        sx, sy = width / report.image.width, height / report.image.height
        scaled = [
            LabelledBox(
                b.product_id,
                b.name,
                (b.xyxy[0] * sx, b.xyxy[1] * sy, b.xyxy[2] * sx, b.xyxy[3] * sy),
            )
            for b in boxes
        ]
        stem = f"{FIELD_PREFIX}_{store_code}_{scan_id}"
        image.save(out / "images" / split / f"{stem}.jpg", quality=jpeg_quality)
        lines = yolo_lines(scaled, class_of, width, height)
        total_boxes += len(lines)
        (out / "labels" / split / f"{stem}.txt").write_text(
            "\n".join(lines) + "\n" if lines else ""
        )
        review = {
            "scan_id": scan_id,
            "store": store_code,
            "report_version": version,
            "image_file": f"images/{split}/{stem}.jpg",
            "corrections": [
                {
                    "kind": c.kind,
                    "facing_id": c.facing_id,
                    "detection_id": c.detection_id,
                    "product_before": c.product_before,
                    "product_after": c.product_after,
                    "by": c.created_by,
                    "at": c.created_at.isoformat() if c.created_at else None,
                }
                for c in corrections
            ],
        }
        (out / "reviews" / split / f"{stem}.json").write_text(json.dumps(review, indent=1))
        counts[split] += 1

    data_yaml = write_dataset_index(out, entries, source="shelfscan corrections export")
    return ExportSummary(
        out, data_yaml, entries, counts["train"], counts["val"], total_boxes, skipped
    )
