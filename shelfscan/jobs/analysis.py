"""What a worker runs on each photo: the analysis pipeline, behind a small seam.

``Analyzer`` is any callable ``(upright RGB photo, planogram) -> analysis`` where the analysis
has ``.report`` (a :class:`ComplianceReport`, or its JSON document) and ``.annotated_jpeg``
(bytes). The default is ``shelfscan.pipeline.analyze_image`` with the configured detector;
``SHELFSCAN_SCAN_ANALYZER`` = ``"package.module:factory"`` names another, where
``factory(settings)`` returns the callable (used by tests and by deployments that bring their
own pipeline).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from PIL import Image

from shelfscan.compliance.report import ComplianceReport
from shelfscan.planogram.model import Planogram
from shelfscan.services.scans import compliance_report
from shelfscan.settings import Settings


class AnalysisResult(Protocol):
    @property
    def report(self) -> Any: ...

    @property
    def annotated_jpeg(self) -> bytes: ...


Analyzer = Callable[[Image.Image, Planogram], AnalysisResult]


class AnalyzerUnavailable(RuntimeError):
    """The configured analyzer cannot be loaded; retrying will not help."""


def load_analyzer(settings: Settings, spec: str | None) -> Analyzer:
    if spec:
        module_name, _, attribute = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute or "make_analyzer")
        except (ImportError, AttributeError) as error:
            raise AnalyzerUnavailable(f"SHELFSCAN_SCAN_ANALYZER={spec!r}: {error}") from error
        return factory(settings)
    return PipelineAnalyzer(settings)


class PipelineAnalyzer:
    """The real pipeline; the detector is loaded on first use, once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._run: Callable[..., AnalysisResult] | None = None

    def __call__(self, image: Image.Image, planogram: Planogram, **context: Any) -> AnalysisResult:
        """``context``: ``image_quality`` and ``candidates`` for the trust check."""
        if self._run is None:
            with self._lock:
                if self._run is None:
                    self._run = self._load()
        return self._run(image, planogram, **context)

    def _load(self) -> Callable[..., AnalysisResult]:
        try:
            from shelfscan.pipeline import Analyzer
        except ImportError as error:
            raise AnalyzerUnavailable(f"analysis pipeline not available: {error}") from error
        from shelfscan.corrections.analyzer import with_gallery

        # Crops people confirmed or corrected name their products before matching.
        return with_gallery(
            Analyzer.from_settings(self.settings),
            self.settings.resolved_database_url,
            # With every product's packshot, a corrected crop can name a changed pack.
            packshot_dir=self.settings.packshot_dir,
        )


def report_of(analysis: AnalysisResult) -> ComplianceReport:
    """The analysis's report, typed: a :class:`ComplianceReport` or a document of one."""
    return compliance_report(analysis.report)
