"""Model class names → planogram products.

A detector knows class names ("cola-330ml", "0006", "Triscuit Crackers"); a planogram knows
products by id, name and GTIN. A label map file bridges the two when the names differ. Classes
that resolve to no product are *reported* (with their box counts) and keep their class name, so
matching sees them as unexpected products instead of losing them.

Label map file (JSON or YAML)::

    {"classes": {"cola-330ml": "0006",          # product id ...
                 "ritz": "Nabisco Ritz Original Classic Crackers",  # ... or name ...
                 "tuc": "05410041001204",       # ... or GTIN
                 "price_tag": null},            # not a product: dropped on purpose
     "gap_classes": ["gap", "empty"]}

A flat ``{"class": "product", ...}`` object is accepted too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shelfscan.detection.base import DEFAULT_GAP_CLASSES, DetectorConfigError
from shelfscan.detections import GAP_LABEL, Detections
from shelfscan.planogram.model import Product


class LabelMapError(DetectorConfigError):
    """The label map file is unreadable or malformed; the message names the file and entry."""


@dataclass(frozen=True)
class LabelMap:
    """Class name → product reference (id, name or GTIN); ``None`` = deliberately not a product."""

    classes: Mapping[str, str | None] = field(default_factory=dict)
    gap_classes: frozenset[str] = DEFAULT_GAP_CLASSES
    source: str = "<inline>"

    @classmethod
    def load(cls, path: Path | str) -> LabelMap:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise LabelMapError(f"label map not found: {path}") from error
        except OSError as error:
            raise LabelMapError(f"label map {path}: cannot read ({error})") from error
        try:
            if path.suffix.lower() in {".yaml", ".yml"}:
                document = yaml.safe_load(text)
            else:
                document = json.loads(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise LabelMapError(f"label map {path}: not valid JSON/YAML ({error})") from error
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: Any, *, source: str = "<inline>") -> LabelMap:
        if not isinstance(document, Mapping):
            raise LabelMapError(f"label map {source}: expected an object at the top level")
        structured = "classes" in document or "gap_classes" in document
        entries = document.get("classes", {}) if structured else document
        if not isinstance(entries, Mapping):
            raise LabelMapError(f"label map {source}: 'classes' must be an object")
        classes: dict[str, str | None] = {}
        for name, target in entries.items():
            if not isinstance(name, str) or not name:
                raise LabelMapError(f"label map {source}: class name {name!r} is not a string")
            if target is not None and not isinstance(target, str | int):
                raise LabelMapError(
                    f"label map {source}: classes[{name!r}] must be a product id, name or GTIN "
                    f"string (or null), got {type(target).__name__}"
                )
            classes[name] = None if target is None else str(target)
        gap_classes = DEFAULT_GAP_CLASSES
        if structured and "gap_classes" in document:
            raw = document["gap_classes"]
            if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
                raise LabelMapError(f"label map {source}: 'gap_classes' must be a list of strings")
            gap_classes = frozenset(raw)
        return cls(classes=classes, gap_classes=gap_classes, source=source)

    def is_gap(self, class_name: str) -> bool:
        return class_name.casefold() in {g.casefold() for g in self.gap_classes}


def normalise_gtin(value: str) -> str | None:
    """GTIN-8/12/13/14 as 14 digits, so UPC-A "012345678905" matches EAN "0012345678905"."""
    digits = value.strip().replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 8 <= len(digits) <= 14:
        return None
    return digits.zfill(14)


def _normalise_name(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


class ProductIndex:
    """Looks products up by id (exact), then GTIN (normalised), then name (case-insensitive)."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products = list(products)
        self._by_id: dict[str, Product] = {}
        self._by_gtin: dict[str, Product] = {}
        self._by_name: dict[str, Product] = {}
        for product in self.products:
            self._by_id.setdefault(product.id, product)
            if product.gtin and (gtin := normalise_gtin(product.gtin)):
                self._by_gtin.setdefault(gtin, product)
            self._by_name.setdefault(_normalise_name(product.name), product)

    def find(self, reference: str) -> Product | None:
        if reference in self._by_id:
            return self._by_id[reference]
        gtin = normalise_gtin(reference)
        if gtin is not None and gtin in self._by_gtin:
            return self._by_gtin[gtin]
        return self._by_name.get(_normalise_name(reference))


@dataclass(frozen=True)
class LabelResolution:
    """Detections relabelled to product ids, plus what could not be resolved."""

    detections: Detections
    # Per box of ``detections``: product id, or None for gaps and unmapped classes.
    product_ids: np.ndarray
    # Class name -> number of boxes, for classes that name no product in the catalogue.
    unmapped: dict[str, int]
    # Class name -> number of boxes dropped because the label map maps the class to null.
    ignored: dict[str, int]
    # Class name -> product id for every class seen that did resolve.
    resolved: dict[str, str]


class LabelResolver:
    """Resolves detector class names against a product catalogue, through an optional label map."""

    def __init__(self, products: Iterable[Product], label_map: LabelMap | None = None) -> None:
        self.index = ProductIndex(products)
        self.label_map = label_map or LabelMap()

    def product_for(self, class_name: str) -> Product | None:
        """The product a class denotes; None if it denotes none (or is mapped to null)."""
        if class_name in self.label_map.classes:
            reference = self.label_map.classes[class_name]
            return None if reference is None else self.index.find(reference)
        return self.index.find(class_name)

    def unmapped_classes(self, class_names: Sequence[str]) -> list[str]:
        """Class names of a model that resolve to no product (gaps and null-mapped excluded).

        For start-up checks: a model trained on products missing from the catalogue.
        """
        return [
            name
            for name in class_names
            if not self.label_map.is_gap(name)
            and not (name in self.label_map.classes and self.label_map.classes[name] is None)
            and self.product_for(name) is None
        ]

    def resolve(self, detections: Detections) -> LabelResolution:
        labels = [str(label) for label in detections.labels]
        keep = np.ones(len(labels), dtype=bool)
        product_ids: list[str | None] = []
        new_labels: list[str] = []
        gaps = detections.is_gap.copy()
        unmapped: Counter[str] = Counter()
        ignored: Counter[str] = Counter()
        resolved: dict[str, str] = {}
        for i, label in enumerate(labels):
            if gaps[i] or self.label_map.is_gap(label):
                gaps[i] = True
                product_ids.append(None)
                new_labels.append(GAP_LABEL)
                continue
            if label in self.label_map.classes and self.label_map.classes[label] is None:
                keep[i] = False
                ignored[label] += 1
                product_ids.append(None)
                new_labels.append(label)
                continue
            product = self.product_for(label)
            if product is None:
                unmapped[label] += 1
                product_ids.append(None)
                new_labels.append(label)
            else:
                resolved[label] = product.id
                product_ids.append(product.id)
                new_labels.append(product.id)
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
        if self.label_map.is_gap(class_name):
            return GAP_LABEL
        product = self.product_for(class_name)
        return product.id if product is not None else class_name
