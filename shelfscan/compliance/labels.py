"""Which planogram product a detector label means: the one resolver of every path.

The scan pipeline, ``shelfscan analyze``, ``shelfscan match``, the Azure-compatible ``:match``
route and the compliance engine all resolve labels here, so that the same boxes get the same
verdicts whichever door they came in by.

Rules, in order of precedence (the first that applies decides):

1. **Gap classes** (the label map's ``gap_classes``, default ``gap``; ignoring case): the box
   shows empty shelf, not a product.
2. **Label map** entry for the exact class name: the product it names (by id, GTIN or name,
   looked up with rules 4-7), or deliberately *no* product when it maps to ``null`` (boxes
   dropped on purpose, such as price tags).
3. **Generic labels** (``product``, ignoring case): Azure's pretrained model tags every box
   so; it says *something* stands there without saying what.
4. **Product id**, exactly.
5. **Product id**, ignoring case and runs of whitespace.
6. **GTIN**: 8 to 14 digits (spaces and dashes ignored) compared as GTIN-14, so the 12-digit
   UPC-A ``044000032029`` names the product with EAN-13 ``0044000032029``; other text is
   compared ignoring case and whitespace.
7. **Product name**, ignoring case and runs of whitespace.

Within one rule the first product in planogram order wins. A label matching none of them names
no product of this planogram (:data:`UNKNOWN`): it is reported as an unexpected product under its
own name, never dropped.

Pure: no web framework, database or torch. The label map *file* format lives with the detector
adapters (:class:`shelfscan.detection.labels.LabelMap`); anything with ``classes`` and
``gap_classes`` will do here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from shelfscan.detections import DEFAULT_GAP_CLASSES, GAP_LABEL, Detections
from shelfscan.planogram.model import Product

GENERIC_LABELS = frozenset({"product"})

# Resolved label codes besides a product index (>= 0). Every code below zero means "no
# particular product" to the engine; the pipeline's relabelling tells them apart.
UNKNOWN = -1  # names no product of this planogram
GENERIC = -2  # says "a product" without saying which
GAP = -3  # a gap class: empty shelf
IGNORED = -4  # the label map maps the class to null: not a product, dropped on purpose

_SPACES = re.compile(r"\s+")


def normalize_label(label: str) -> str:
    """Case- and whitespace-insensitive form of a label, id or name."""
    return _SPACES.sub(" ", label.strip()).casefold()


def normalise_gtin(value: str) -> str | None:
    """GTIN-8/12/13/14 as 14 digits, so UPC-A "012345678905" matches EAN "0012345678905"."""
    digits = value.strip().replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 8 <= len(digits) <= 14:
        return None
    return digits.zfill(14)


def _gtin_key(value: str) -> str:
    return normalise_gtin(value) or normalize_label(value)


class LabelMapping(Protocol):
    """What the resolver reads of a label map (see ``shelfscan.detection.labels.LabelMap``)."""

    @property
    def classes(self) -> Mapping[str, str | None]: ...

    @property
    def gap_classes(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class LabelResolution:
    """Detections relabelled to product ids, plus what could not be resolved."""

    detections: Detections
    # Per box of ``detections``: product id, or None for gaps, generic and unmapped classes.
    product_ids: np.ndarray
    # Class name -> number of boxes, for classes that name no product in the catalogue.
    unmapped: dict[str, int]
    # Class name -> number of boxes dropped because the label map maps the class to null.
    ignored: dict[str, int]
    # Class name -> product id for every class seen that did resolve.
    resolved: dict[str, str]


class LabelResolver:
    """Detector labels → indices into the planogram's product list (or a code below zero)."""

    def __init__(self, products: Iterable[Product], label_map: LabelMapping | None = None) -> None:
        self.products = list(products)
        self._classes: Mapping[str, str | None] = label_map.classes if label_map else {}
        gap_classes = label_map.gap_classes if label_map else DEFAULT_GAP_CLASSES
        self._gap_classes = frozenset(name.casefold() for name in gap_classes)
        # One table per catalogue rule (4-7 of the module docstring); setdefault: the first
        # product in planogram order wins.
        self._by_id: dict[str, int] = {}
        self._by_loose_id: dict[str, int] = {}
        self._by_gtin: dict[str, int] = {}
        self._by_name: dict[str, int] = {}
        for index, product in enumerate(self.products):
            self._by_id.setdefault(product.id, index)
            self._by_loose_id.setdefault(normalize_label(product.id), index)
            if product.gtin:
                self._by_gtin.setdefault(_gtin_key(product.gtin), index)
            self._by_name.setdefault(normalize_label(product.name), index)
        self._resolved: dict[str, int] = {}

    # --- one label ---

    def resolve(self, label: str) -> int:
        """Product index, or ``GAP``, ``IGNORED``, ``GENERIC`` or ``UNKNOWN``."""
        found = self._resolved.get(label)
        if found is None:
            found = self._resolved[label] = self._decide(label)
        return found

    def resolve_many(self, labels: Iterable[str]) -> list[int]:
        return [self.resolve(label) for label in labels]

    def _decide(self, label: str) -> int:
        if label.casefold() in self._gap_classes:
            return GAP
        if label in self._classes:
            reference = self._classes[label]
            return IGNORED if reference is None else self._in_catalogue(reference)
        if normalize_label(label) in GENERIC_LABELS:
            return GENERIC
        return self._in_catalogue(label)

    def _in_catalogue(self, reference: str) -> int:
        loose = normalize_label(reference)
        for table, key in (
            (self._by_id, reference),
            (self._by_loose_id, loose),
            (self._by_gtin, _gtin_key(reference)),
            (self._by_name, loose),
        ):
            if key in table:
                return table[key]
        return UNKNOWN

    def product_for(self, label: str) -> Product | None:
        """The product a label denotes; None if it denotes none (gap, generic, null-mapped)."""
        index = self.resolve(label)
        return self.products[index] if index >= 0 else None

    def unmapped_classes(self, class_names: Sequence[str]) -> list[str]:
        """Class names of a model that resolve to no product (gaps, generic labels and
        null-mapped classes excluded). For start-up checks: a model trained on products
        missing from the catalogue."""
        return [name for name in class_names if self.resolve(name) == UNKNOWN]

    # --- the engine's view: which products a box may show ---

    def plausible(
        self, top_label: str, alternatives: Mapping[str, float] | None, ratio: float
    ) -> tuple[int, ...]:
        """Products a box may show: its top label, then alternatives scoring at least
        ``ratio`` times the top confidence (a second opinion the detector nearly chose)."""
        top = self.resolve(top_label)
        result = [top] if top >= 0 else []
        if alternatives and ratio < 1.0:
            scores = list(alternatives.values())
            best = max(scores) if scores else 0.0
            for label, confidence in alternatives.items():
                if best > 0 and confidence >= ratio * best:
                    index = self.resolve(label)
                    if index >= 0 and index not in result:
                        result.append(index)
        return tuple(result)

    def plausible_many(
        self,
        labels: Sequence[str],
        alternatives: Sequence[Mapping[str, float]] | None,
        ratio: float,
        skip: Sequence[bool],
    ) -> list[tuple[int, ...]]:
        """``plausible`` for every box (``()`` where ``skip``), in one pass: a photo has a
        few hundred boxes and this runs for every match."""
        resolved = self._resolved
        resolve = self.resolve
        out: list[tuple[int, ...]] = []
        for k, label in enumerate(labels):
            if skip[k]:
                out.append(())
                continue
            top = resolved.get(label)
            if top is None:
                top = resolve(label)
            result: tuple[int, ...] = (top,) if top >= 0 else ()
            ranked = alternatives[k] if alternatives else None
            if ranked and ratio < 1.0:
                best = max(ranked.values())
                if best > 0:
                    threshold = ratio * best
                    for other, confidence in ranked.items():
                        if confidence >= threshold:
                            index = resolved.get(other)
                            if index is None:
                                index = resolve(other)
                            if index >= 0 and index not in result:
                                result += (index,)
            out.append(result)
        return out

    # --- the pipeline's view: detections relabelled to product ids ---

    def relabel(self, detections: Detections) -> LabelResolution:
        """Boxes of classes that name a product get its id as label; gap classes become
        ``gap`` boxes; null-mapped classes are dropped; generic and unknown labels stay as
        they are (unknown ones are counted in ``unmapped``). Matching the result resolves
        every label by rule 4, so the verdicts equal those of matching ``detections``
        with this resolver directly."""
        labels = [str(label) for label in detections.labels]
        keep = np.ones(len(labels), dtype=bool)
        product_ids: list[str | None] = []
        new_labels: list[str] = []
        gaps = detections.is_gap.copy()
        unmapped: Counter[str] = Counter()
        ignored: Counter[str] = Counter()
        resolved: dict[str, str] = {}
        for i, label in enumerate(labels):
            code = self.resolve(label)
            product_id = None
            new_label = label
            if gaps[i] or code == GAP:
                gaps[i] = True
                new_label = GAP_LABEL
            elif code == IGNORED:
                keep[i] = False
                ignored[label] += 1
            elif code == UNKNOWN:
                unmapped[label] += 1
            elif code >= 0:
                product_id = new_label = resolved[label] = self.products[code].id
            product_ids.append(product_id)
            new_labels.append(new_label)
        alternatives = [self._relabel_ranked(ranked) for ranked in detections.alternatives]
        relabelled = replace(
            detections,
            labels=np.asarray(new_labels, dtype=object),
            is_gap=gaps,
            alternatives=alternatives,
        )[keep]
        return LabelResolution(
            detections=relabelled,
            product_ids=np.asarray(product_ids, dtype=object)[keep],
            unmapped=dict(unmapped),
            ignored=dict(ignored),
            resolved=resolved,
        )

    def _relabel_ranked(self, ranked: Mapping[str, float]) -> dict[str, float]:
        # Two classes may name one product; the higher-ranked (earlier) score wins.
        result: dict[str, float] = {}
        for name, score in ranked.items():
            result.setdefault(self._relabel(name), score)
        return result

    def _relabel(self, class_name: str) -> str:
        code = self.resolve(class_name)
        if code == GAP:
            return GAP_LABEL
        return self.products[code].id if code >= 0 else class_name
