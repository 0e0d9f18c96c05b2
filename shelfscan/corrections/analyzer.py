"""The gallery in the scan pipeline: boxes whose crop closely resembles a crop a person
vouched for are named after it before matching, so the next scan gets that product right.

:func:`with_gallery` wraps the pipeline's :class:`shelfscan.pipeline.Analyzer`; the scan worker
(``shelfscan.jobs.analysis.PipelineAnalyzer``) applies it. The gallery is read from the database
and kept until an entry is added (one cheap count query per photo). Given a packshot folder
(``packshot_dir``), the planogram's packshots weigh in too (:func:`gallery.gallery_choice`): a
changed pack fits no packshot, so a less close gallery crop may name it.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from shelfscan.corrections.gallery import Gallery, relabel_with_gallery
from shelfscan.imaging.decode import Photo
from shelfscan.planogram.model import Planogram
from shelfscan.synth.recognition import PackshotRecogniser

log = logging.getLogger(__name__)

EXIF_ORIENTATION = 0x0112


class GallerySource:
    """The database's gallery, loaded again only when it changed."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._gallery = Gallery([])

    def current(self) -> Gallery:
        from shelfscan.corrections.service import gallery_stamp, load_gallery
        from shelfscan.db.session import session_scope

        try:
            with session_scope(self.database_url) as session:
                stamp = gallery_stamp(session)
                if stamp != self._stamp:
                    gallery = load_gallery(session)
                    with self._lock:
                        self._gallery, self._stamp = gallery, stamp
        except Exception:  # no table yet (an old database): scan without the gallery
            log.warning("recognition gallery unavailable", exc_info=True)
        return self._gallery


class PackshotSource:
    """The packshot recogniser of a planogram's products, kept per product set; None unless
    every product has a packshot: a product without one may be just the flavour sibling the
    gallery's lead over the packshots must be weighed against. Read once per product set: a
    packshot added later counts from the worker's next start."""

    def __init__(self, packshot_dir: Path | str, *, keep: int = 16) -> None:
        self.packshot_dir = Path(packshot_dir)
        self.keep = keep
        self._lock = threading.Lock()
        self._recognisers: OrderedDict[tuple, PackshotRecogniser | None] = OrderedDict()

    def __call__(self, planogram: Planogram) -> PackshotRecogniser | None:
        key = tuple(sorted((p.id, p.name, p.gtin or "", *p.packshots) for p in planogram.products))
        with self._lock:
            if key in self._recognisers:
                self._recognisers.move_to_end(key)
                return self._recognisers[key]
        recogniser = self._load(planogram)
        with self._lock:
            self._recognisers[key] = recogniser
            while len(self._recognisers) > self.keep:
                self._recognisers.popitem(last=False)
        return recogniser

    def _load(self, planogram: Planogram) -> PackshotRecogniser | None:
        from shelfscan.synth.packaging import find_packshot, load_front_faces

        products = planogram.products
        dirs = [self.packshot_dir]
        if not products or any(find_packshot(p, dirs) is None for p in products):
            return None
        try:
            faces = load_front_faces(products, search_dirs=dirs)
        except ValueError:  # an unreadable packshot: the gallery decides alone
            log.warning("packshots unavailable for the gallery", exc_info=True)
            return None
        return PackshotRecogniser(faces, aspects={p.id: p.w / p.h for p in products})


@dataclass(frozen=True)
class GalleryAnalyzer:
    """``pipeline.Analyzer`` with the gallery between detection and matching."""

    analyzer: Any  # shelfscan.pipeline.Analyzer
    gallery: Callable[[], Gallery]
    packshots: Callable[[Planogram], PackshotRecogniser | None] | None = None

    def __call__(self, image: Image.Image | Photo, planogram: Planogram, **context: Any) -> Any:
        from shelfscan.pipeline import analyze_detections

        gallery = self.gallery()
        if not len(gallery):
            return self.analyzer(image, planogram, **context)
        if isinstance(image, Photo):  # the photo's bytes: crops need every pixel
            image = image.full()
        upright = image
        if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
            upright = ImageOps.exif_transpose(image) or image
        started = time.perf_counter()
        detections = self.analyzer.detector.detect(upright)
        detections.timings_ms.setdefault("total", round((time.perf_counter() - started) * 1000, 1))
        started = time.perf_counter()
        known = {p.id for p in planogram.products}
        label_of = {
            key: key if key in known else gallery.names[key] for key in gallery.product_keys
        }
        packshots = self.packshots(planogram) if self.packshots is not None else None
        relabelled = relabel_with_gallery(
            upright, detections, gallery, label_of=label_of, packshots=packshots
        )
        detections = relabelled.detections
        detections.timings_ms["gallery"] = round((time.perf_counter() - started) * 1000, 1)
        if relabelled.renamed:
            log.info(
                "gallery renamed %d box(es)",
                len(relabelled.renamed),
                extra={"renamed": {k: list(v) for k, v in relabelled.renamed.items()}},
            )
        return analyze_detections(
            upright,
            planogram,
            detections,
            label_map=self.analyzer.label_map,
            options=self.analyzer.options,
            **{k: v for k, v in context.items() if k in _accepted(analyze_detections)},
        )


def _accepted(function: Callable[..., Any]) -> frozenset[str]:
    # The trust check's context (quality, candidate bays, thresholds) as the pipeline takes it.
    return frozenset(inspect.signature(function).parameters)


def with_gallery(
    analyzer: Any, database_url: str, *, packshot_dir: Path | str | None = None
) -> GalleryAnalyzer:
    packshots = PackshotSource(packshot_dir) if packshot_dir is not None else None
    return GalleryAnalyzer(analyzer, GallerySource(database_url).current, packshots)
