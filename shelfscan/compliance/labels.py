"""Which planogram product a detector label means.

A label names a product when it equals the product's id, its name (ignoring case and runs of
whitespace) or its GTIN. Azure's pretrained model tags every box ``product``: such a box says
that *something* stands there without saying what, so it is kept apart as a generic label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from shelfscan.planogram.model import Product

GENERIC_LABELS = frozenset({"product"})

# Resolved label codes besides a product index (>= 0).
UNKNOWN = -1  # names no product of this planogram
GENERIC = -2  # says "a product" without saying which

_SPACES = re.compile(r"\s+")


def normalize_label(label: str) -> str:
    return _SPACES.sub(" ", label.strip()).casefold()


class LabelResolver:
    """Maps detector labels to indices into the planogram's product list."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = list(products)
        self._index: dict[str, int] = {}
        self._resolved: dict[str, int] = {}
        # Names first, then GTINs, then ids win: an id is the most deliberate reference.
        for attribute in ("name", "gtin", "id"):
            for index, product in enumerate(self.products):
                value = getattr(product, attribute)
                if value:
                    self._index[normalize_label(str(value))] = index

    def resolve(self, label: str) -> int:
        found = self._resolved.get(label)
        if found is None:
            key = normalize_label(label)
            found = GENERIC if key in GENERIC_LABELS else self._index.get(key, UNKNOWN)
            self._resolved[label] = found
        return found

    def resolve_many(self, labels: Iterable[str]) -> list[int]:
        return [self.resolve(label) for label in labels]

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
