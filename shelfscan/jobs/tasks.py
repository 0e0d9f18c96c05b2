"""The scan task both runners execute: claim the scan, analyse its photos, save the results.

Safe to run any number of times for the same scan, concurrently too: the claim is one
conditional UPDATE (only a queued scan, or one whose holder's lease has expired, can be
claimed), the worker renews its lease while it works, and every later write is conditional
on still holding that lease. A duplicated message, a worker killed mid-scan or a scan failed
by the deadline therefore never produces two results.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from sqlalchemy import select

from shelfscan.compliance.merge import (
    PHOTO_OF_SEVERAL,
    PhotoReport,
    Reregister,
    merge_reports,
    register_in_order,
)
from shelfscan.compliance.overview import render_overview
from shelfscan.compliance.report import ComplianceReport
from shelfscan.db.models import PlanogramVersion, Scan, Store
from shelfscan.db.session import session_scope
from shelfscan.imaging.decode import Photo
from shelfscan.jobs.analysis import (
    Analyzer,
    AnalyzerUnavailable,
    PipelineAnalyzer,
    report_of,
)
from shelfscan.jobs.gate import UploadGate
from shelfscan.jobs.prepare import (
    LeaseLost,
    PhotoRejected,
    fail_rejected,
    photo_rows,
    prepare_photos,
)
from shelfscan.services import scans
from shelfscan.services.scans import (
    OVERVIEW_NAME,
    ScanStatus,
    annotated_key,
    evidence_boxes,
    evidence_key,
    scan_prefix,
)
from shelfscan.services.stores import other_bays_planograms, planogram_from_version
from shelfscan.settings import Settings
from shelfscan.storage import Storage, StorageError

log = logging.getLogger(__name__)

Enqueue = Callable[[str, float], None]  # (scan_id, delay_s)


@dataclass
class JobContext:
    """Everything a worker needs; one per process (runners build it once)."""

    settings: Settings
    storage: Storage
    analyzer: Analyzer
    enqueue: Enqueue | None = None  # to retry transient failures later
    # One-machine runners: the web process's count of uploads being received, so that a
    # scan's writes wait while a burst of uploads is answered (jobs/gate.py).
    gate: UploadGate | None = None
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url


class _Transient(Exception):
    """Worth another attempt: the detector or storage was briefly unavailable."""


SKIPPED = "skipped"


def run_scan(scan_id: str, context: JobContext) -> str:
    """Process one scan; returns the :class:`ScanStatus` it ended in, or ``"skipped"`` when it
    was not this worker's to process (already done, failed, or held by a live worker)."""
    holder = f"{context.worker_name}:{uuid.uuid4().hex[:8]}"
    with session_scope(context.database_url) as session:
        claim = scans.claim(session, scan_id, holder, lease_s=context.settings.scan_lease_s)
    if claim is None:
        return SKIPPED
    attempts = claim.attempts
    if claim.deadline_passed:
        return _finish_failed(scan_id, holder, context, _deadline_message(context))
    if attempts > context.settings.scan_max_attempts:
        message = f"gave up after {attempts - 1} attempts (workers lost or timed out)"
        return _finish_failed(scan_id, holder, context, message)

    heartbeat = _Heartbeat(scan_id, holder, context)
    heartbeat.start()
    started = time.perf_counter()
    try:
        report = _analyse(scan_id, holder, context)
    except PhotoRejected as rejected:
        heartbeat.stop()
        return _finish_rejected(scan_id, holder, context, rejected)
    except LeaseLost:
        heartbeat.stop()
        log.warning("scan lease lost while preparing its photos", extra={"scan_id": scan_id})
        return SKIPPED
    except _Transient as error:
        heartbeat.stop()
        if attempts < context.settings.scan_max_attempts and context.enqueue is not None:
            delay = min(60.0, 2.0**attempts)
            with session_scope(context.database_url) as session:
                released = scans.release(session, scan_id, holder, f"retrying: {error}")
            if released:
                context.enqueue(scan_id, delay)
                return ScanStatus.QUEUED
            return SKIPPED
        return _finish_failed(scan_id, holder, context, f"{error} (after {attempts} attempts)")
    except Exception as error:
        heartbeat.stop()
        if type(error).__name__ == "SoftTimeLimitExceeded":  # Celery's limit is the deadline
            return _finish_failed(scan_id, holder, context, _deadline_message(context))
        log.exception("scan failed", extra={"scan_id": scan_id})
        return _finish_failed(scan_id, holder, context, f"{type(error).__name__}: {error}")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    _yield_to_uploads(context)  # the lease is still renewed meanwhile
    heartbeat.stop()
    conclusive = (report.get("trust") or {}).get("conclusive", True)
    with session_scope(context.database_url) as session:
        if conclusive:
            finished = scans.finish(session, scan_id, holder, report)
        else:
            finished = scans.finish_inconclusive(session, scan_id, holder, report)
    if not finished:
        log.warning("scan lease lost before finishing", extra={"scan_id": scan_id})
        return SKIPPED
    status = ScanStatus.DONE if conclusive else ScanStatus.INCONCLUSIVE
    log.info(f"scan {status}", extra={"scan_id": scan_id, "ms": elapsed_ms, "attempt": attempts})
    return status


def _yield_to_uploads(context: JobContext) -> None:
    """Before a scan writes (its pictures, then its result): wait while the web process is
    receiving uploads, at most the gate's limit. A niced analysis that takes SQLite's write
    lock, or flushes files, in the middle of a burst is descheduled holding them, and the
    uploads' own commits and flushes wait behind it."""
    if context.gate is not None:
        context.gate.wait_for_uploads()


def _deadline_message(context: JobContext) -> str:
    return f"deadline exceeded: not finished within {context.settings.scan_deadline_s:g} s"


def _analyse(scan_id: str, holder: str, context: JobContext) -> dict[str, Any]:
    with session_scope(context.database_url) as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise RuntimeError(f"scan {scan_id} vanished")
        store_code = session.scalar(select(Store.code).where(Store.id == scan.store_id))
        document = session.scalar(
            select(PlanogramVersion.document).where(
                PlanogramVersion.id == scan.planogram_version_id
            )
        )
        rows = photo_rows(session, scan_id)
        # The store's other bays: a photo of one of them is named as such (trust check).
        candidates = other_bays_planograms(session, scan.store_id, scan.bay_id)
    if store_code is None or document is None:
        raise RuntimeError(f"scan {scan_id}: its store or planogram version is missing")
    planogram = planogram_from_version(document)

    # Fast upload validation: decode, sanitise and assess the photos as received, first.
    try:
        if prepare_photos(
            database_url=context.database_url,
            storage=context.storage,
            scan_id=scan_id,
            store_code=store_code,
            planogram=planogram,
            rows=rows,
            holder=holder,
        ):
            with session_scope(context.database_url) as session:
                rows = photo_rows(session, scan_id)
    except StorageError as error:
        raise _Transient(f"storage: {error}") from error
    photo_keys = [row.storage_key for row in rows]
    with session_scope(context.database_url) as session:
        quality = session.scalar(select(Scan.quality).where(Scan.id == scan_id))

    # Each photo is analysed on its own (detected, registered, trust-checked); the verdicts
    # are then merged per facing in planogram space into the scan's one report.
    several = len(photo_keys) > 1
    analysed: list[tuple[Photo, ComplianceReport, Any]] = []
    for index, key in enumerate(photo_keys):
        try:
            data = context.storage.get(key)
        except StorageError as error:
            raise _Transient(f"storage: {error}") from error
        # The pipeline takes the bytes and decodes them only as far as it needs (the detector
        # at its input size, the annotated photo at display size); an analyzer plugged in by
        # SHELFSCAN_SCAN_ANALYZER gets the decoded photo.
        photo = Photo(data)
        try:
            analysis = _call_analyzer(
                context.analyzer,
                photo if isinstance(context.analyzer, PipelineAnalyzer) else photo.full(),
                planogram,
                _photo_quality(quality, index),
                candidates,
                PHOTO_OF_SEVERAL if several else None,
            )
        except AnalyzerUnavailable:
            raise
        except Exception as error:
            if _is_transient(error):
                raise _Transient(f"detector: {error}") from error
            raise
        analysed.append((photo, report_of(analysis), analysis))
    photo_reports = [
        PhotoReport(index, typed, _photo_quality(quality, index))
        for index, (_, typed, _) in enumerate(analysed)
    ]
    if several:
        # Photos are taken left to right: one that fits the wrong stretch of a bay of
        # repeated products is registered again between its neighbours.
        photo_reports = register_in_order(
            planogram, photo_reports, _rematcher(analysed, planogram, candidates)
        )
        analysed = [
            (photo, placed.report, analysis)
            for (photo, _, analysis), placed in zip(analysed, photo_reports, strict=True)
        ]
    merged = merge_reports(planogram, photo_reports, known_names=_known_names(candidates))
    conclusive = merged.trust is None or merged.trust.conclusive
    prefix = scan_prefix(store_code, scan_id)
    _yield_to_uploads(context)
    try:
        for index, (photo, typed, analysis) in enumerate(analysed):
            if several:
                from shelfscan.pipeline import annotate_scan_photo

                annotated = annotate_scan_photo(photo.full(), merged, typed, index)
            else:
                annotated = analysis.annotated_jpeg  # drawn on first use, after the report
            context.storage.put(annotated_key(store_code, scan_id, index), annotated, "image/jpeg")
        if conclusive:
            # An inconclusive scan shows no problems, so it has no evidence to show.
            _save_evidence(
                context.storage, store_code, scan_id, [photo for photo, _, _ in analysed], merged
            )
        context.storage.put(
            f"{prefix}/{OVERVIEW_NAME}", render_overview(planogram, merged), "image/png"
        )
    except StorageError as error:
        raise _Transient(f"storage: {error}") from error
    return merged.model_dump(mode="json")


def _rematcher(
    analysed: list[tuple[Photo, ComplianceReport, Any]],
    planogram: Any,
    candidates: dict[str, Any],
) -> Reregister:
    """Match a photo's detections again with its left edge where the scan's other photos put
    it (``merge.register_in_order``); the detector does not run again. An analyzer plugged in
    by ``SHELFSCAN_SCAN_ANALYZER`` that hands back no detections keeps its own placement."""

    def rematch(
        placed: PhotoReport,
        left_edge: tuple[float, float],
        aspect: tuple[float, float] | None = None,
    ) -> PhotoReport | None:
        photo, _, analysis = analysed[placed.index]
        detections = getattr(analysis, "detections", None)
        if detections is None:
            return None
        from shelfscan.compliance.engine import MatchOptions
        from shelfscan.pipeline import analyze_detections

        again = analyze_detections(
            photo,
            planogram,
            detections,
            options=MatchOptions(left_edge_units=left_edge, aspect_range=aspect),
            image_quality=placed.quality,
            candidates=candidates,
            trust_thresholds=PHOTO_OF_SEVERAL,
        ).report
        # The detections were relabelled already: the first match's label summary holds.
        again.detector_labels = placed.report.detector_labels
        return PhotoReport(placed.index, again, placed.quality)

    return rematch


def _known_names(candidates: dict[str, Any]) -> dict[str, str]:
    """Other bays' product names (a misplaced item from the next bay is named in actions)."""
    names: dict[str, str] = {}
    for other in (candidates or {}).values():
        for product in getattr(other, "products", []):
            names[product.id] = product.name
            names[product.name] = product.name
    return names


def _photo_quality(quality: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    """The quality check's result for photo ``index`` of the scan's quality summary."""
    photos = (quality or {}).get("photos") or []
    return photos[index] if index < len(photos) and isinstance(photos[index], dict) else None


def _call_analyzer(
    analyzer: Analyzer,
    image: Image.Image | Photo,
    planogram: Any,
    quality: dict[str, Any] | None,
    candidates: dict[str, Any],
    trust_thresholds: Any = None,
) -> Any:
    """The analyzer with the photo's quality, the candidate bays and (one photo of several)
    the trust thresholds when it takes them (the pipeline's does; an analyzer plugged in by
    ``SHELFSCAN_SCAN_ANALYZER`` may not)."""
    try:
        parameters = inspect.signature(analyzer).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    extra: dict[str, Any] = {}
    if takes_all or "image_quality" in parameters:
        extra["image_quality"] = quality
    if takes_all or "candidates" in parameters:
        extra["candidates"] = candidates
    if trust_thresholds is not None and (takes_all or "trust_thresholds" in parameters):
        extra["trust_thresholds"] = trust_thresholds
    return analyzer(image, planogram, **extra)


def _is_transient(error: Exception) -> bool:
    try:
        from shelfscan.detection.base import DetectorUnavailableError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, DetectorUnavailableError)


EVIDENCE_MARGIN = 0.15


def _save_evidence(
    storage: Storage,
    store_code: str,
    scan_id: str,
    images: list[Photo],
    report: ComplianceReport,
) -> int:
    """One JPEG crop per problem facing, a little wider than its box for context, and one per
    unexpected product (``detection-<id>``: what a remove action shows), each cut from the
    photo its box is in (``photo`` of the evidence or product; the only photo when null)."""
    saved = 0
    photo_of = {f.facing_id: f.evidence.photo or 0 for f in report.facings}
    crops = [(key, photo_of.get(key, 0), box) for key, box in evidence_boxes(report).items()]
    for item in report.unexpected:
        box = item.box
        crops.append(
            (
                f"detection-{item.detection_id}",
                item.photo or 0,
                (box.x, box.y, box.x + box.w, box.y + box.h),
            )
        )
    for facing_id, photo, (x1, y1, x2, y2) in crops:
        if not 0 <= photo < len(images):
            continue
        image = images[photo].full()  # decoded in full only when a crop is cut from it
        margin_x, margin_y = (x2 - x1) * EVIDENCE_MARGIN, (y2 - y1) * EVIDENCE_MARGIN
        box = (
            max(0, round(x1 - margin_x)),
            max(0, round(y1 - margin_y)),
            min(image.width, round(x2 + margin_x)),
            min(image.height, round(y2 + margin_y)),
        )
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            continue  # outside the photo ("not visible"): nothing to show
        out = io.BytesIO()
        image.crop(box).save(out, "JPEG", quality=88)
        storage.put(evidence_key(store_code, scan_id, facing_id), out.getvalue(), "image/jpeg")
        saved += 1
    return saved


def _finish_failed(scan_id: str, holder: str, context: JobContext, message: str) -> str:
    with session_scope(context.database_url) as session:
        failed = scans.fail(session, scan_id, holder, message)
    if failed:
        log.warning("scan failed", extra={"scan_id": scan_id, "error": message})
        return ScanStatus.FAILED
    return SKIPPED


def _finish_rejected(
    scan_id: str, holder: str, context: JobContext, rejected: PhotoRejected
) -> str:
    with session_scope(context.database_url) as session:
        store_code = session.scalar(
            select(Store.code).join(Scan, Scan.store_id == Store.id).where(Scan.id == scan_id)
        )
    if store_code is not None and fail_rejected(
        database_url=context.database_url,
        storage=context.storage,
        scan_id=scan_id,
        store_code=store_code,
        rejected=rejected,
        holder=holder,
    ):
        return ScanStatus.FAILED
    return SKIPPED


class _Heartbeat:
    """Renews the lease every third of its length while the scan is analysed."""

    def __init__(self, scan_id: str, holder: str, context: JobContext) -> None:
        self.scan_id, self.holder, self.context = scan_id, holder, context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{scan_id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        lease = self.context.settings.scan_lease_s
        while not self._stop.wait(lease / 3):
            try:
                with session_scope(self.context.database_url) as session:
                    renewed = scans.renew_lease(session, self.scan_id, self.holder, lease_s=lease)
            except Exception:  # a database hiccup: try again next beat, the lease has slack
                log.warning("lease renewal failed", exc_info=True)
                continue
            if not renewed:
                return  # failed by the deadline or taken over: nothing left to renew
