"""The analysis chain, in one direction: image → detections → registration and matching →
report → annotated photo. Shared by the CLI, the scan workers and the API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from PIL import Image, ImageOps

from shelfscan.annotate import Marker, Overlay, annotate_jpeg
from shelfscan.compliance.actions import conclude
from shelfscan.compliance.engine import MatchOptions, match_planogram
from shelfscan.compliance.labels import LabelResolver
from shelfscan.compliance.report import (
    Box,
    ComplianceReport,
    DetectorLabels,
    FacingStatus,
)
from shelfscan.compliance.scene import SceneMask
from shelfscan.compliance.trust import TrustThresholds
from shelfscan.detection.base import Detector
from shelfscan.detection.labels import LabelMap
from shelfscan.detections import Detections
from shelfscan.images import EXIF_ORIENTATION
from shelfscan.imaging.decode import Photo
from shelfscan.imaging.fill import find_fill_in_image
from shelfscan.planogram.model import Planogram
from shelfscan.settings import Settings

log = logging.getLogger(__name__)

# The annotated photo is drawn for a phone (``annotate``: ≤ 2048 px): from a photo's bytes, a
# DCT-reduced copy at least this long is enough and costs a fraction of the full decode.
ANNOTATE_MIN_LONG_SIDE = 1280


@dataclass(frozen=True)
class Analysis:
    """The report, and the annotated photo drawn on first use: the verdicts are ready (and
    can be saved and shown) before the picture is, and a caller that needs no picture pays
    nothing for it."""

    detections: Detections
    report: ComplianceReport
    draw: Callable[[], bytes] = field(repr=False, compare=False)

    @cached_property
    def annotated_jpeg(self) -> bytes:
        started = time.perf_counter()
        annotated = self.draw()
        self.report.timings_ms["annotate"] = round((time.perf_counter() - started) * 1000, 1)
        return annotated


def _xyxy(box: Box) -> tuple[float, float, float, float]:
    return (box.x, box.y, box.x + box.w, box.y + box.h)


QUALITY_PREVIEW_LONG_SIDE = 1024  # what upload validation hands the quality check


def photo_quality(image: Image.Image) -> dict[str, Any]:
    """The upload check's quality metrics for ``image``, on a preview made the way upload
    validation makes it (the trust check's brightness and sharpness thresholds were measured
    on those)."""
    from shelfscan.imaging.quality import assess_quality

    preview = image.convert("RGB")
    preview.thumbnail(
        (QUALITY_PREVIEW_LONG_SIDE, QUALITY_PREVIEW_LONG_SIDE), Image.Resampling.BILINEAR
    )
    return assess_quality(preview, full_width=image.width, full_height=image.height).as_dict()


def overlays_for(report: ComplianceReport) -> list[Overlay]:
    """What the annotated photo shows: every visible facing by status, and unexpected boxes.
    An inconclusive report shows none: its verdicts are not to be acted on."""
    overlays: list[Overlay] = []
    if report.trust is not None and not report.trust.conclusive:
        return overlays
    for facing in report.facings:
        if facing.status is FacingStatus.NOT_VISIBLE:
            continue
        # No text on the boxes: numbered markers (``markers_for``) key them to the actions.
        overlays.append(Overlay(facing.status.value, _xyxy(facing.expected_box)))
    overlays.extend(Overlay("unexpected", _xyxy(item.box)) for item in report.unexpected)
    return overlays


def markers_for(report: ComplianceReport) -> list[Marker]:
    """One numbered marker per action, on its first facing (or box) in the photo: the same
    numbers as the action list of the API and report.txt."""
    boxes = {f.facing_id: f.expected_box for f in report.facings}
    boxes.update({u.detection_id: u.box for u in report.unexpected})
    markers: list[Marker] = []
    for action in report.actions:
        if action.kind == "photograph":
            continue  # not in the photo
        for key in [*action.facing_ids, *action.detection_ids]:
            box = boxes.get(key)
            if box is not None:
                markers.append(Marker(action.number, _xyxy(box), action.kind.value))
                break
    return markers


# A model trained for the whole store sees the neighbouring bays' products at a photo's edges:
# a few boxes of classes that are not this planogram's are normal (INFO). When they are at
# least this share of the boxes that name a product, the label map or the assigned planogram is
# likely wrong, and an operator should hear of it (WARNING).
UNMAPPED_WARNING_SHARE = 0.5


def _unmapped_level(unmapped: int, resolved: int) -> int:
    share = unmapped / max(unmapped + resolved, 1)
    return logging.WARNING if share >= UNMAPPED_WARNING_SHARE else logging.INFO


def analyze_detections(
    image: Image.Image | Photo,
    planogram: Planogram,
    detections: Detections,
    *,
    label_map: LabelMap | None = None,
    options: MatchOptions | None = None,
    image_quality: Mapping[str, Any] | None = None,
    candidates: Mapping[str, Planogram] | None = None,
    trust_thresholds: TrustThresholds | None = None,
) -> Analysis:
    """Match detections already made on ``image`` (a decoded photo, or a :class:`Photo` of
    bytes decoded as far as needed), check that the result can be trusted, list the actions
    and (on first use of ``annotated_jpeg``) draw the result.

    ``image_quality`` is the photo's quality (``shelfscan.imaging.quality``; measured here
    when not given) and ``candidates`` the store's other bays (bay code → planogram): the
    trust check (:func:`shelfscan.compliance.trust.assess`) names the one a wrong-bay photo
    most likely shows; ``trust_thresholds`` replace its defaults (one photo of several need not
    show most of the bay: ``shelfscan.compliance.merge.PHOTO_OF_SEVERAL``).
    An inconclusive report (``report.trust.conclusive`` false) has no actions and its
    annotated photo shows no verdicts.

    With a ``label_map``, the detector's class names are first translated to the planogram's
    products (by :class:`~shelfscan.compliance.labels.LabelResolver`, the rules every path
    shares); classes that name none stay as they are (reported as unexpected products) and
    are listed in ``report.detector_labels``."""
    resolution = None
    if label_map is not None:
        resolution = LabelResolver(planogram.products, label_map).relabel(detections)
        detections = resolution.detections
        if resolution.unmapped:
            unmapped = sum(resolution.unmapped.values())
            resolved = sum(product is not None for product in resolution.product_ids)
            log.log(
                _unmapped_level(unmapped, resolved),
                "%d box(es) of detector classes that are not products of planogram %s "
                "(kept in the report: unexpected, or outside the bay): %s",
                unmapped,
                planogram.id,
                ", ".join(sorted(resolution.unmapped)),
                extra={"unmapped_classes": resolution.unmapped, "resolved_boxes": resolved},
            )
    report = match_planogram(planogram, detections, options=options, scene=scene_of(image))
    if resolution is not None:
        report.detector_labels = DetectorLabels(
            resolved=resolution.resolved, unmapped=resolution.unmapped, ignored=resolution.ignored
        )
    started = time.perf_counter()
    if image_quality is None:
        image_quality = _quality_of(image)
    verdict = conclude(
        report,
        detections,
        planogram,
        image_quality=image_quality,
        candidates=candidates,
        thresholds=trust_thresholds,
    )
    report.timings_ms["trust"] = round((time.perf_counter() - started) * 1000, 1)
    report.timings_ms.update({f"detect.{k}": v for k, v in detections.timings_ms.items()})
    overlays, markers = overlays_for(report), markers_for(report)
    notice = None if verdict.conclusive else f"INCONCLUSIVE: {verdict.instruction}"

    def draw() -> bytes:
        if isinstance(image, Photo):
            display = image.reduced(ANNOTATE_MIN_LONG_SIDE)
            return annotate_jpeg(
                display.image,
                overlays,
                markers=markers,
                notice=notice,
                box_scale=1 / display.factor,
            )
        return annotate_jpeg(image, overlays, markers=markers, notice=notice)

    return Analysis(detections=detections, report=report, draw=draw)


def scene_of(image: Image.Image | Photo) -> SceneMask | None:
    """Which part of the photo shows the shelf, when fill (a turned or stitched photo's black
    corners) covers some of it; None when all of it does."""
    if isinstance(image, Photo):
        return image.scene()
    return find_fill_in_image(image, image.size)


def _quality_of(image: Image.Image | Photo) -> dict[str, Any]:
    if isinstance(image, Photo):
        from shelfscan.imaging.quality import assess_quality

        return assess_quality(
            image.quality_preview(), full_width=image.width, full_height=image.height
        ).as_dict()
    return photo_quality(image)


def detect_photo(detector: Detector, photo: Photo) -> Detections:
    """``detector`` on ``photo``, decoded only at the size the detector looks at when it says
    which (``input_long_side``; YOLO scales every photo to its input size anyway), with the
    boxes mapped back to pixels of the full photo. Other detectors (replayed boxes, remote
    services) get every pixel."""
    wanted = getattr(detector, "input_long_side", None)
    long_side = wanted(photo.width, photo.height) if callable(wanted) else None
    if long_side is None:
        return detector.detect(photo.full())
    started = time.perf_counter()
    reduced = photo.reduced(long_side)
    decoded_ms = (time.perf_counter() - started) * 1000
    detect_bgr = getattr(detector, "detect_bgr", None)
    # The decoded array as it is when the detector takes one (YOLO): no Pillow copy of it.
    detections = detect_bgr(reduced.bgr) if callable(detect_bgr) else detector.detect(reduced.image)
    if reduced.factor != 1:
        detections.xyxy = reduced.to_full(detections.xyxy)
        detections.image_width, detections.image_height = photo.size
    detections.timings_ms["decode"] = round(decoded_ms, 1)
    return detections


def analyze_image(
    image: Image.Image | Photo,
    planogram: Planogram,
    detector: Detector,
    *,
    label_map: LabelMap | None = None,
    options: MatchOptions | None = None,
    image_quality: Mapping[str, Any] | None = None,
    candidates: Mapping[str, Planogram] | None = None,
    trust_thresholds: TrustThresholds | None = None,
) -> Analysis:
    """Detect products on a shelf photo and check them against ``planogram``.

    ``image`` should be upright already (``shelfscan.images.load_image`` turns it); a photo
    that still carries an EXIF rotation is turned here, so that a 12 MP copy is made only
    when one is needed. A :class:`Photo` (the bytes) is decoded only as far as the detector,
    the quality check and the annotated photo need (``detect_photo``)."""
    source: Image.Image | Photo = image
    if isinstance(image, Image.Image) and image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        source = ImageOps.exif_transpose(image) or image
    started = time.perf_counter()
    if isinstance(source, Photo):
        detections = detect_photo(detector, source)
    else:
        detections = detector.detect(source)
    detections.timings_ms.setdefault("total", round((time.perf_counter() - started) * 1000, 1))
    return analyze_detections(
        source,
        planogram,
        detections,
        label_map=label_map,
        options=options,
        image_quality=image_quality,
        candidates=candidates,
        trust_thresholds=trust_thresholds,
    )


@dataclass(frozen=True)
class Analyzer:
    """A detector with the label map that goes with it: what every caller of the pipeline
    (CLI, scan workers) builds once and calls per photo."""

    detector: Detector
    label_map: LabelMap | None = None
    options: MatchOptions | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Analyzer:
        from shelfscan.detection.factory import get_detector, label_map_for

        return cls(get_detector(settings), label_map_for(settings))

    def __call__(
        self,
        image: Image.Image | Photo,
        planogram: Planogram,
        *,
        image_quality: Mapping[str, Any] | None = None,
        candidates: Mapping[str, Planogram] | None = None,
        trust_thresholds: TrustThresholds | None = None,
    ) -> Analysis:
        return analyze_image(
            image,
            planogram,
            self.detector,
            label_map=self.label_map,
            options=self.options,
            image_quality=image_quality,
            candidates=candidates,
            trust_thresholds=trust_thresholds,
        )


def annotate_scan_photo(
    image: Image.Image, merged: ComplianceReport, own: ComplianceReport, photo: int
) -> bytes:
    """Photo ``photo`` of a scan merged from several, drawn with the scan's verdicts: every
    facing this photo judged, in its own pixels, coloured by the merged status; the unexpected
    products reported from this photo; the action markers whose facing or box it shows (the
    scan's action numbers). A photo left out (trust check refused) shows why, and no boxes."""
    summary = next((p for p in merged.photos if p.index == photo), None)
    if summary is not None and not summary.used:
        return annotate_jpeg(image, [], notice=f"LEFT OUT: {summary.instruction or ''}".strip())
    if merged.trust is not None and not merged.trust.conclusive:
        return annotate_jpeg(image, [], notice=f"INCONCLUSIVE: {merged.trust.instruction}")
    status_of = {f.facing_id: f.status for f in merged.facings}
    boxes: dict[str, Box] = {}
    overlays: list[Overlay] = []
    for facing in own.facings:
        status = status_of.get(facing.facing_id, FacingStatus.NOT_VISIBLE)
        if facing.status is FacingStatus.NOT_VISIBLE or status is FacingStatus.NOT_VISIBLE:
            continue
        boxes[facing.facing_id] = facing.expected_box
        overlays.append(Overlay(status.value, _xyxy(facing.expected_box)))
    for item in merged.unexpected:
        if item.photo == photo:
            boxes[item.detection_id] = item.box
            overlays.append(Overlay("unexpected", _xyxy(item.box)))
    markers: list[Marker] = []
    for action in merged.actions:
        if action.kind == "photograph":
            continue
        for key in [*action.facing_ids, *action.detection_ids]:
            box = boxes.get(key)
            if box is not None:
                markers.append(Marker(action.number, _xyxy(box), action.kind.value))
                break
    return annotate_jpeg(image, overlays, markers=markers)
