"""The label map file: model class names → planogram products.

A detector knows class names ("cola-330ml", "0006", "Triscuit Crackers"); a planogram knows
products by id, name and GTIN. A label map file bridges the two when the names differ. This
module reads the file; :class:`shelfscan.compliance.labels.LabelResolver` applies it (with the
rules every path shares). Classes that resolve to no product are *reported* (with their box
counts) and keep their class name, so matching sees them as unexpected products instead of
losing them.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shelfscan.detection.base import DEFAULT_GAP_CLASSES, DetectorConfigError


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
