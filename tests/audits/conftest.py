"""Three demo stores in three time zones (each with a daylight-saving change in October or
early November 2026), two bays each with a planogram in force, and helpers that take scans
through the real lifecycle (claim → finish) so the audit hook runs as in production."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pytest

from shelfscan.auth.models import Region
from shelfscan.db.migrate import upgrade
from shelfscan.db.models import (
    Bay,
    BayAssignment,
    CatalogProduct,
    Planogram,
    PlanogramVersion,
    PlanogramVersionProduct,
    Scan,
    Store,
)
from shelfscan.db.session import session_scope
from shelfscan.services import scans as scan_service

# Store code → (region, IANA zone). Berlin leaves summer time on 25 Oct 2026, New York on
# 1 Nov 2026, Sydney enters it on 4 Oct 2026.
STORES = {
    "DEMO-001": ("eu-central", "Europe/Berlin"),
    "DEMO-002": ("us-east", "America/New_York"),
    "DEMO-003": ("au-east", "Australia/Sydney"),
}
BAYS = ("A01", "A02")

PLANOGRAM: dict[str, Any] = {
    "id": "demo-cereal",
    "name": "Cereal",
    "unit": "cm",
    "width": 120,
    "height": 90,
    "fixtures": [{"id": "top", "x": 0, "y": 0, "w": 120, "h": 45}],
    "products": [
        {"id": "p1", "name": "Oats", "w": 20, "h": 40},
        {"id": "p2", "name": "Flakes", "w": 30, "h": 40},
    ],
    "positions": [
        {"id": "1", "product_id": "p1", "fixture_id": "top", "x": 0, "y": 2, "hfacings": 2},
        {"id": "2", "product_id": "p2", "fixture_id": "top", "x": 60, "y": 2, "hfacings": 2},
    ],
}
FACINGS = ("1:0:0", "1:1:0", "2:0:0", "2:1:0")


def seed_demo_stores(url: str) -> None:
    upgrade(url)
    with session_scope(url) as session:
        planogram = Planogram(key="demo-cereal", name="Cereal")
        session.add(planogram)
        session.flush()
        version = PlanogramVersion(
            planogram_id=planogram.id, version=1, document=PLANOGRAM, sha256="0" * 64
        )
        session.add(version)
        session.flush()
        for key, category in (("p1", "Cereal"), ("p2", "Cereal")):
            product = CatalogProduct(name=key, category=category, gtin=None)
            session.add(product)
            session.flush()
            session.add(
                PlanogramVersionProduct(
                    planogram_version_id=version.id,
                    product_key=key,
                    catalog_product_id=product.id,
                )
            )
        for code, (region, zone) in STORES.items():
            session.add(Region(code=region, name=region, time_zone=zone))
            store = Store(code=code, name=f"Demo {code}", region=region)
            session.add(store)
            session.flush()
            for bay_code in (*BAYS, "Z99"):
                bay = Bay(store_id=store.id, code=bay_code, name=f"Bay {bay_code}")
                session.add(bay)
                session.flush()
                if bay_code == "Z99":
                    continue  # no planogram: never part of an audit
                session.add(
                    BayAssignment(
                        store_id=store.id,
                        bay_id=bay.id,
                        planogram_version_id=version.id,
                        effective_from=date(2026, 1, 1),
                    )
                )


@pytest.fixture
def demo_url(database_url: str) -> str:
    seed_demo_stores(database_url)
    return database_url


def report(
    statuses: dict[str, str] | None = None,
    *,
    conclusive: bool = True,
    with_actions: bool = True,
) -> dict[str, Any]:
    """A schema-1.2-shaped report: every facing ``ok`` unless ``statuses`` says otherwise;
    one ``fill`` action per product with gaps (as the actions builder groups them)."""
    statuses = {facing: "ok" for facing in FACINGS} | (statuses or {})
    facings = [
        {
            "facing_id": facing,
            "product_id": "p1" if facing.startswith("1:") else "p2",
            "product_name": "Oats" if facing.startswith("1:") else "Flakes",
            "status": status,
            "reason": f"stand-in {status}",
            "evidence": {"source": "inferred", "box": {"x": 1, "y": 1, "w": 5, "h": 5}},
        }
        for facing, status in statuses.items()
    ]
    result: dict[str, Any] = {
        "schema_version": "1.2",
        "facings": facings,
        "unexpected": [],
        "scores": {"position_compliance": sum(s == "ok" for s in statuses.values()) / 4},
        "trust": {"conclusive": conclusive, "reason": None if conclusive else "wrong_bay"},
    }
    if with_actions:
        actions = []
        for product, name in (("p1", "Oats"), ("p2", "Flakes")):
            gaps = [
                f["facing_id"]
                for f in facings
                if f["product_id"] == product and f["status"] == "gap"
            ]
            if gaps and conclusive:
                actions.append(
                    {
                        "number": len(actions) + 1,
                        "kind": "fill",
                        "text": f"Fill {len(gaps)} facings of {name}",
                        "product_id": product,
                        "facing_ids": gaps,
                        "detection_ids": [],
                        "out_of_stock": len(gaps) == 2,
                        "priority": 0 if len(gaps) == 2 else 1,
                    }
                )
        result["actions"] = actions
    return result


def take_scan(
    url: str, store_code: str, bay_code: str, taken_at: datetime, body: dict[str, Any]
) -> str:
    """A scan of ``bay_code`` photographed at ``taken_at``, analysed to ``body`` through the
    real claim → finish transitions (the audit hook runs inside finish)."""
    scan_id = str(uuid.uuid4())
    with session_scope(url) as session:
        store = session.query(Store).filter_by(code=store_code).one()
        bay = session.query(Bay).filter_by(store_id=store.id, code=bay_code).one()
        assignment = session.query(BayAssignment).filter_by(bay_id=bay.id).one()
        session.add(
            Scan(
                id=scan_id,
                store_id=store.id,
                bay_id=bay.id,
                planogram_version_id=assignment.planogram_version_id,
                status="queued",
                created_at=taken_at,
                updated_at=taken_at,
            )
        )
    with session_scope(url) as session:
        assert scan_service.claim(session, scan_id, "test-worker", lease_s=60)
    with session_scope(url) as session:
        trust = body.get("trust") or {}
        if trust.get("conclusive") is False and hasattr(scan_service, "finish_inconclusive"):
            assert scan_service.finish_inconclusive(session, scan_id, "test-worker", body)
        else:
            assert scan_service.finish(session, scan_id, "test-worker", body)
    return scan_id
