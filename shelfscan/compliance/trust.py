"""Whether a compliance report can be trusted: does the photo show this bay, readably?

The matching engine always produces a verdict for every facing, even for a grey image or
another bay's photo, where every verdict is made up. ``assess`` looks at figures the match
already computed (how many boxes the registration explains, how much of the plan is in view,
whether the detected products are this planogram's) and at the photo's quality metrics, and
says whether the report is **conclusive**; when it is not, it gives a reason code and a retake
instruction for the person at the shelf, and the report's fix list must not be shown.
``most_likely_bay`` ranks the store's other planograms by how well the detections fit them,
so that a wrong-bay photo can say which bay it most likely shows.

The thresholds are measured, not guessed: ``benchmarks/inconclusive.py`` runs good photos
(every demo bay, the real Azure sample, the synthetic scenarios) and 50+ bad ones (blank,
noise, non-shelf pictures, other bays, upside down, covered, blurred, dark) and prints each
figure's distribution, the margins of the thresholds below and any case they get wrong.

Pure: reads the report, the detections and the planogram; no web, database or torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shelfscan.compliance.labels import UNKNOWN, LabelResolver
from shelfscan.compliance.report import ComplianceReport, FacingStatus
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram

if TYPE_CHECKING:
    from shelfscan.imaging.quality import PhotoQuality


class TrustReason(StrEnum):
    """Why a scan is inconclusive; each has its retake instruction (``INSTRUCTIONS``)."""

    TOO_DARK_OR_BLURRED = "too_dark_or_blurred"
    NO_SHELF = "no_shelf"
    WRONG_BAY = "wrong_bay"
    DOES_NOT_FIT = "does_not_fit"
    TOO_LITTLE_IN_VIEW = "too_little_in_view"
    VIEW_BLOCKED = "view_blocked"


INSTRUCTIONS: dict[TrustReason, str] = {
    TrustReason.TOO_DARK_OR_BLURRED: (
        "The photo is too dark or blurred to read. Turn on more light or use the flash, "
        "hold the phone still and tap the shelf to focus, then retake it."
    ),
    TrustReason.NO_SHELF: (
        "No shelf with products was found in this photo. "
        "Photograph the bay from the front, with its shelves filling the frame."
    ),
    TrustReason.WRONG_BAY: (
        "This looks like another bay: the products in the photo are not the ones planned here. "
        "Check that you are at the right bay, then retake the photo."
    ),
    TrustReason.DOES_NOT_FIT: (
        "The products in the photo do not line up with this bay's plan. Photograph the bay "
        "upright and square-on, with the whole bay in the frame."
    ),
    TrustReason.TOO_LITTLE_IN_VIEW: (
        "Too little of the bay is in the photo. Step back until the whole bay, "
        "top shelf to bottom shelf and both ends, is in the frame."
    ),
    TrustReason.VIEW_BLOCKED: (
        "Most of the bay shows no products: something may be blocking the view. Clear the "
        "view and retake the photo; if the shelves really are empty, tell the manager."
    ),
}


@dataclass(frozen=True)
class TrustThresholds:
    """Where each figure stops being trustworthy. Measured by ``benchmarks/inconclusive.py``,
    which prints each figure's range over the good and the bad cases and the margin left
    between them; change a value here only with that benchmark's output."""

    # Each value is the midpoint, rounded, between the closest good case and the highest bad
    # case the check is the first to refuse (geometric for brightness, sharpness and counts),
    # as ``benchmarks/inconclusive.py`` measured it on 45 good and 61 bad cases.
    #
    # Severe photo-quality problems, on ``shelfscan.imaging.quality``'s metrics (the upload
    # preview; sharpness is the Laplacian variance at 800 px wide). Good photos: brightness
    # >= 106, sharpness >= 99; very dark renders <= 13, severely blurred ones <= 1.
    min_brightness: float = 35.0
    min_sharpness: float = 10.0
    # Fewer product boxes than this: no shelf. Not the measured midpoint (8): registration
    # needs two rows of two boxes, and a small bay may have only six facings. Good >= 22,
    # noise and blank pictures <= 3.
    min_detections: int = 4
    # Share of the labelled product boxes whose label is a product of this planogram.
    # Good >= 0.82; another bay's photo <= 0.21 (upside-down photos: 0.52-0.64, caught next).
    min_label_share: float = 0.5
    # Product boxes per planned facing, splitting the label check's refusals: stray boxes on a
    # picture of something else (<= 0.19: no shelf) from another bay's products (>= 0.35).
    min_box_density: float = 0.27
    # Share of the product boxes the registration places on a planned facing of their product.
    # Good >= 0.77; upside-down photos <= 0.27.
    min_explained_share: float = 0.5
    # Share of the planogram's facings inside the photo. Good >= 0.61 (photos of 55 % of a
    # bay); photos of a fifth to a quarter of a bay <= 0.25.
    min_in_view_fraction: float = 0.4
    # Share of the facings in view where some product stands (ok or misplaced). Good >= 0.81
    # (up to 15 % gaps); photos 80 % covered <= 0.38. A bay with over 40 % of its facings
    # empty is refused too: its instruction says to tell the manager if it really is empty.
    min_filled_share: float = 0.6
    # A candidate bay is named as the likely one when this share of labelled boxes is its.
    min_candidate_label_share: float = 0.5


@dataclass(frozen=True)
class TrustFigures:
    """What the verdict was decided on. Shares in [0, 1]; None where a figure does not apply
    (no labelled box, nothing in view, no quality metrics)."""

    product_boxes: int  # product detections, duplicates left out
    gap_boxes: int
    box_density: float  # product boxes / planned facings
    labelled_boxes: int  # product boxes whose label names a product (not "product", not gap)
    named_boxes: int  # labelled boxes naming a product of this planogram
    label_share: float | None  # of labelled boxes: label is a product of this planogram
    product_overlap: float | None  # Jaccard: detected products vs the planogram's products in view
    explained_share: float | None  # of product boxes: on a planned facing of their product
    inside_share: float | None  # of product boxes: inside the registered bay
    label_inlier_share: float | None  # registration: label inliers / labelled detections
    in_view_fraction: float  # planned facings inside the photo / planned facings
    filled_share: float | None  # facings in view with a product (ok or misplaced)
    registration_method: str
    registration_warnings: list[str] = field(default_factory=list)
    brightness: float | None = None
    sharpness: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BayFit:
    """How well detections fit one candidate bay's planogram."""

    bay: str
    planogram_id: str
    planogram_name: str
    named_boxes: int  # labelled boxes naming one of this planogram's products
    label_share: float | None  # named_boxes / labelled boxes
    product_overlap: float | None  # Jaccard of detected products and the planogram's products
    explained_share: float | None = None  # after a full match (``full_match``), else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrustVerdict:
    conclusive: bool
    reason: TrustReason | None
    instruction: str | None
    figures: TrustFigures
    likely_bay: BayFit | None = None  # the store's bay the photo most likely shows instead

    def as_dict(self) -> dict[str, Any]:
        """The report's ``trust`` section (JSON-ready)."""
        return {
            "conclusive": self.conclusive,
            "reason": None if self.reason is None else self.reason.value,
            "instruction": self.instruction,
            "likely_bay": None if self.likely_bay is None else self.likely_bay.as_dict(),
            "figures": self.figures.as_dict(),
        }


def assess(
    report: ComplianceReport,
    detections: Detections,
    planogram: Planogram,
    image_quality: PhotoQuality | Mapping[str, Any] | None = None,
    *,
    candidates: Mapping[str, Planogram] | None = None,
    thresholds: TrustThresholds | None = None,
) -> TrustVerdict:
    """Decide whether ``report`` (``planogram`` matched against ``detections``) can be trusted.

    ``detections`` are the ones the report was made from (after any label map: the pipeline's
    ``Analysis.detections``). ``image_quality`` is ``shelfscan.imaging.quality``'s result for
    the photo, its ``as_dict()``, or a scan's quality summary (``{"photos": [...]}``; the
    worst photo counts). ``candidates`` are the store's other bays (bay code → planogram): on a
    wrong-bay verdict the best-fitting one is named in ``likely_bay``.
    """
    limits = thresholds or TrustThresholds()
    figures = trust_figures(report, detections, planogram, image_quality)
    reason = _decide(figures, limits)
    likely = None
    if reason in (TrustReason.WRONG_BAY, TrustReason.DOES_NOT_FIT) and candidates:
        others = {bay: pg for bay, pg in candidates.items() if pg.id != planogram.id}
        ranked = most_likely_bay(others, detections)
        best = ranked[0] if ranked else None
        if (
            best is not None
            and best.label_share is not None
            and best.label_share >= limits.min_candidate_label_share
            and best.named_boxes > figures.named_boxes
            and best.named_boxes >= limits.min_detections
        ):
            likely = best
            if reason is TrustReason.DOES_NOT_FIT:
                reason = TrustReason.WRONG_BAY
    if reason is None:
        return TrustVerdict(True, None, None, figures)
    instruction = INSTRUCTIONS[reason]
    if likely is not None and reason is TrustReason.WRONG_BAY:
        instruction = (
            f"This looks like bay {likely.bay} ({likely.planogram_name}), not this one. "
            "Check that you are at the right bay, then retake the photo."
        )
    return TrustVerdict(False, reason, instruction, figures, likely)


def _decide(figures: TrustFigures, limits: TrustThresholds) -> TrustReason | None:
    """The first failing check, in the order that gives the most useful instruction: a photo
    that cannot be read says so before anything is concluded from what was read in it."""
    if (figures.brightness is not None and figures.brightness < limits.min_brightness) or (
        figures.sharpness is not None and figures.sharpness < limits.min_sharpness
    ):
        return TrustReason.TOO_DARK_OR_BLURRED
    if figures.product_boxes < limits.min_detections:
        return TrustReason.NO_SHELF
    if figures.label_share is not None and figures.label_share < limits.min_label_share:
        # A few stray boxes with foreign labels (a picture of something else) are no bay at
        # all; a bay's worth of another planogram's products is another bay.
        if figures.box_density < limits.min_box_density:
            return TrustReason.NO_SHELF
        return TrustReason.WRONG_BAY
    if figures.explained_share is not None and figures.explained_share < limits.min_explained_share:
        return TrustReason.DOES_NOT_FIT
    if figures.in_view_fraction < limits.min_in_view_fraction:
        return TrustReason.TOO_LITTLE_IN_VIEW
    if figures.filled_share is not None and figures.filled_share < limits.min_filled_share:
        return TrustReason.VIEW_BLOCKED
    return None


def trust_figures(
    report: ComplianceReport,
    detections: Detections,
    planogram: Planogram,
    image_quality: PhotoQuality | Mapping[str, Any] | None = None,
) -> TrustFigures:
    """Every figure ``assess`` decides on (see ``TrustFigures``)."""
    duplicates = set(report.ignored.duplicates)
    ids = [str(i) for i in detections.ids]
    product_rows = [
        k for k in range(len(detections)) if not detections.is_gap[k] and ids[k] not in duplicates
    ]
    product_ids = {ids[k] for k in product_rows}
    n_products = len(product_rows)
    gap_boxes = int(detections.is_gap.sum())

    labelled, named, detected = _label_figures(
        (str(detections.labels[k]) for k in product_rows), planogram
    )

    explained = {
        f.evidence.detection_id
        for f in report.facings
        if f.status is FacingStatus.OK and f.evidence.detection_id in product_ids
    }
    outside = product_ids & set(report.ignored.outside_planogram)

    counts = report.counts
    in_view_products = {
        f.product_id for f in report.facings if f.status is not FacingStatus.NOT_VISIBLE
    }
    planned = in_view_products or {p.product_id for p in planogram.positions}
    reg = report.registration
    metrics = _quality_metrics(image_quality)
    return TrustFigures(
        product_boxes=n_products,
        gap_boxes=gap_boxes,
        box_density=round(n_products / max(counts.facings, 1), 4),
        labelled_boxes=labelled,
        named_boxes=named,
        label_share=_share(named, labelled),
        product_overlap=_jaccard(detected, planned) if labelled else None,
        explained_share=_share(len(explained), n_products),
        inside_share=_share(n_products - len(outside), n_products),
        label_inlier_share=_share(reg.label_inliers, reg.labelled_detections),
        in_view_fraction=_share(counts.visible, counts.facings) or 0.0,
        filled_share=_share(counts.ok + counts.misplaced, counts.visible),
        registration_method=reg.method,
        registration_warnings=list(reg.warnings),
        brightness=metrics.get("brightness"),
        sharpness=metrics.get("sharpness"),
    )


def most_likely_bay(
    candidates: Mapping[str, Planogram],
    detections: Detections,
    *,
    full_match: bool = False,
) -> list[BayFit]:
    """The candidate bays ranked by how well ``detections`` fit their planograms, best first.

    Cheap by default: how many labelled boxes name each planogram's products, then the
    Jaccard overlap of the detected and the planned product sets. With ``full_match``, every
    candidate is also matched (``match_planogram``) and ranked first by the share of boxes its
    registration explains: slower (a match per bay), but it also ranks bays whose products
    overlap, or detectors that only say "product".
    """
    product_labels = [
        str(label)
        for label, gap in zip(detections.labels, detections.is_gap, strict=True)
        if not gap
    ]
    fits: list[BayFit] = []
    for bay, planogram in candidates.items():
        labelled, named, detected = _label_figures(product_labels, planogram)
        planned = {p.product_id for p in planogram.positions}
        explained = None
        if full_match:
            from shelfscan.compliance.engine import match_planogram

            report = match_planogram(planogram, detections)
            explained = trust_figures(report, detections, planogram).explained_share
        fits.append(
            BayFit(
                bay=bay,
                planogram_id=planogram.id,
                planogram_name=planogram.name,
                named_boxes=named,
                label_share=_share(named, labelled),
                product_overlap=_jaccard(detected, planned) if labelled else None,
                explained_share=explained,
            )
        )
    fits.sort(
        key=lambda fit: (
            -(fit.explained_share or 0.0),
            -fit.named_boxes,
            -(fit.product_overlap or 0.0),
            fit.bay,
        )
    )
    return fits


def _label_figures(labels: Iterable[str], planogram: Planogram) -> tuple[int, int, set[str]]:
    """(labelled boxes, boxes naming one of ``planogram``'s products, the products detected)
    over product boxes, with the engine's own label rules. A label saying only "a product"
    (a generic detector), a gap class or a class mapped to nothing is no label here."""
    resolver = LabelResolver(planogram.products)
    labelled = named = 0
    detected: set[str] = set()
    for label in labels:
        code = resolver.resolve(label)
        if code >= 0:
            labelled += 1
            named += 1
            detected.add(resolver.products[code].id)
        elif code == UNKNOWN:
            labelled += 1
            detected.add(f"label:{label}")  # a product of another bay, or of none
    return labelled, named, detected


def _quality_metrics(quality: PhotoQuality | Mapping[str, Any] | None) -> dict[str, float]:
    """Brightness and sharpness of the worst photo, from any of the forms ``assess`` takes."""
    if quality is None:
        return {}
    worst: dict[str, float] = {}
    for photo in _photos(quality):
        metrics = photo.get("metrics") if isinstance(photo, Mapping) else photo.metrics
        for key in ("brightness", "sharpness"):
            value = (metrics or {}).get(key)
            if isinstance(value, int | float):
                worst[key] = min(worst.get(key, float(value)), float(value))
    return worst


def _photos(quality: PhotoQuality | Mapping[str, Any]) -> list[Any]:
    """One photo's quality, or a scan's summary of several (``{"photos": [...]}``)."""
    if isinstance(quality, Mapping):
        return list(quality.get("photos") or [quality])
    return [quality]


def _share(numerator: int, denominator: int) -> float | None:
    return None if denominator <= 0 else round(numerator / denominator, 4)


def _jaccard(a: set[str], b: set[str]) -> float | None:
    union = a | b
    return None if not union else round(len(a & b) / len(union), 4)
