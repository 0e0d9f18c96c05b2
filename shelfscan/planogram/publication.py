"""A validated planogram made ready to be stored: everything publishing needs, as plain values.

Building it (the canonical dump, its hash, the document's JSON encoding, the counts) is the CPU
work of publishing; storing it is only database work. The API builds it in a heavy-work process
(:mod:`shelfscan.api.heavy_tasks`), so that the server process never rebuilds, re-dumps or
re-encodes a 20,000-position planogram while holding the GIL; the CLI and the library build it
in place (``shelfscan.services.stores.publish_planogram``). Both store the same bytes and hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from shelfscan.planogram.canonical import dump_canonical, planogram_to_dict
from shelfscan.planogram.model import Planogram


@dataclass(frozen=True)
class CatalogueProduct:
    """One product of the planogram, as the product master (catalogue) records it."""

    key: str  # the planogram's local product id
    gtin: str | None
    name: str
    brand: str | None
    category: str | None
    w: float
    h: float
    depth: float | None


@dataclass(frozen=True)
class PreparedPlanogram:
    """A *validated* planogram, ready to store: only plain values (cheap to pickle)."""

    key: str
    name: str | None
    unit: str
    sha256: str  # of the canonical text (``dump_canonical``): a version's identity
    document_json: str  # the stored document, encoded as the JSON column encodes it
    products: tuple[CatalogueProduct, ...]
    positions: int
    facings: int
    fixtures: int


def prepare_publication(planogram: Planogram) -> PreparedPlanogram:
    """Dump, hash and encode ``planogram``, which the caller has validated."""
    document = planogram_to_dict(planogram)
    canonical_text = dump_canonical(planogram)
    return PreparedPlanogram(
        key=planogram.id,
        name=planogram.name,
        unit=planogram.unit.value,
        sha256=hashlib.sha256(canonical_text.encode()).hexdigest(),
        # What SQLAlchemy's JSON type binds for the dict (its default serializer, json.dumps).
        document_json=json.dumps(document),
        products=tuple(
            CatalogueProduct(
                key=product.id,
                gtin=product.gtin,
                name=product.name,
                brand=product.brand,
                category=product.category,
                w=product.w,
                h=product.h,
                depth=product.depth,
            )
            for product in planogram.products
        ),
        positions=len(planogram.positions),
        facings=len(planogram.facings()),
        fixtures=len(planogram.fixtures),
    )
