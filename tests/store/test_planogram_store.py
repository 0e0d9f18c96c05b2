from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from shelfscan.db import models
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import engine_for, session_scope
from shelfscan.planogram.azure_json import import_azure_planogram
from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.model import Fixture, Planogram, Position, Product, Unit
from shelfscan.planogram_store import (
    ConflictError,
    NotFoundError,
    assign_planogram,
    create_bay,
    create_store,
    get_planogram_version,
    list_planograms,
    list_versions,
    planogram_from_version,
    planogram_version_for_bay,
    publish_planogram,
)


def small_planogram(planogram_id: str = "cereal-1", cola_facings: int = 2) -> Planogram:
    return Planogram(
        id=planogram_id,
        name="Cereal bay",
        unit=Unit.CM,
        width=100,
        height=60,
        fixtures=[Fixture(id="S1", x=0, y=28, w=100, h=2), Fixture(id="S2", x=0, y=58, w=100, h=2)],
        products=[
            Product(id="p1", gtin="4006381333931", name="Oat Flakes", w=20, h=25),
            Product(id="p2", gtin="5449000000996", name="Cola 1L", w=10, h=25),
        ],
        positions=[
            Position(id="1", product_id="p1", fixture_id="S1", x=0, y=3, hfacings=2),
            Position(id="2", product_id="p2", fixture_id="S2", x=0, y=33, hfacings=cola_facings),
        ],
    )


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_publish_then_edit_creates_versions_and_keeps_the_old_one(url: str) -> None:
    with session_scope(url) as session:
        first = publish_planogram(session, small_planogram(), comment="initial")
        assert first.version == 1
        again = publish_planogram(session, small_planogram())
        assert again.id == first.id, "re-publishing an identical document is idempotent"
        edited = publish_planogram(session, small_planogram(cola_facings=3), comment="more cola")
        assert edited.version == 2

    engine_for(url).dispose()  # a restart: nothing cached survives, only the database
    with session_scope(url) as session:
        v1 = planogram_from_version(get_planogram_version(session, "cereal-1", 1))
        v2 = planogram_from_version(get_planogram_version(session, "cereal-1"))
        assert v1 == small_planogram()
        assert v2 == small_planogram(cola_facings=3)
        assert [v.version for v in list_versions(session, "cereal-1")] == [1, 2]
        assert [(p.key, latest) for p, latest in list_planograms(session)] == [("cereal-1", 2)]


def test_product_master_is_shared_by_gtin(url: str) -> None:
    with session_scope(url) as session:
        publish_planogram(session, small_planogram("bay-a"))
        publish_planogram(session, small_planogram("bay-b"))
        count = session.scalar(select(func.count()).select_from(models.CatalogProduct))
        links = session.scalar(select(func.count()).select_from(models.PlanogramVersionProduct))
    assert count == 2
    assert links == 4


def test_invalid_planogram_stores_nothing(url: str) -> None:
    bad = small_planogram()
    bad.positions.append(Position(id="3", product_id="nope", fixture_id="S9", x=0, y=3))
    with pytest.raises(PlanogramError) as raised, session_scope(url) as session:
        publish_planogram(session, bad)
    locations = {p.location for p in raised.value.problems}
    assert any("positions[2]" in loc for loc in locations), locations
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(models.Planogram)) == 0
        assert session.scalar(select(func.count()).select_from(models.PlanogramVersion)) == 0


def test_bay_assignments_follow_effective_dates_across_restart(url: str) -> None:
    with session_scope(url) as session:
        store = create_store(session, "S001", "Main Street", "North")
        bay = create_bay(session, store, "A01-B1", "Cereal")
        v1 = publish_planogram(session, small_planogram())
        v2 = publish_planogram(session, small_planogram(cola_facings=3))
        assign_planogram(session, bay, v1, date(2026, 1, 1))
        assign_planogram(session, bay, v2, date(2026, 6, 1))
        bay_id = bay.id
    engine_for(url).dispose()
    with session_scope(url) as session:
        assert planogram_version_for_bay(session, bay_id, date(2025, 12, 31)) is None
        assert planogram_version_for_bay(session, bay_id, date(2026, 5, 31)).version == 1
        assert planogram_version_for_bay(session, bay_id, date(2026, 6, 1)).version == 2
        first = session.scalar(
            select(models.BayAssignment).order_by(models.BayAssignment.effective_from)
        )
        assert first.effective_to == date(2026, 6, 1), "the open-ended assignment was closed"


def test_overlapping_assignment_is_refused(url: str) -> None:
    with session_scope(url) as session:
        store = create_store(session, "S001", "Main Street")
        bay = create_bay(session, store, "A01")
        version = publish_planogram(session, small_planogram())
        assign_planogram(session, bay, version, date(2026, 1, 1), date(2026, 3, 1))
        with pytest.raises(ConflictError, match="assigned until 2026-03-01"):
            assign_planogram(session, bay, version, date(2026, 2, 1))
        with pytest.raises(ConflictError, match="already has an assignment"):
            assign_planogram(session, bay, version, date(2025, 12, 1))


def test_duplicate_store_and_unknown_lookups(url: str) -> None:
    with session_scope(url) as session:
        create_store(session, "S001", "Main Street")
        with pytest.raises(ConflictError):
            create_store(session, "S001", "Again")
        with pytest.raises(NotFoundError, match="planogram 'missing'"):
            get_planogram_version(session, "missing")


def test_azure_sample_publishes(url: str, azure_sample) -> None:
    planogram = import_azure_planogram(
        json.loads((azure_sample / "sample_planogram.json").read_text()), planogram_id="crackers"
    )
    with session_scope(url) as session:
        version = publish_planogram(session, planogram, source_format="azure")
        restored = planogram_from_version(version)
    assert len(restored.positions) == 58
    assert len(restored.products) == 13


def test_a_prepared_planogram_publishes_as_the_planogram_itself(url: str) -> None:
    """``publish_prepared`` (what the API's worker hands over) stores what ``publish_planogram``
    stores: the same versions, hashes, documents and product-master links."""
    from shelfscan.planogram.canonical import dump_canonical, planogram_to_dict
    from shelfscan.planogram.publication import prepare_publication
    from shelfscan.services.stores import publish_prepared

    def stored(key: str) -> list[tuple[int, str, dict, list[tuple[str, str | None]]]]:
        with session_scope(url) as session:
            return [
                (
                    version.version,
                    version.sha256,
                    version.document,
                    sorted(
                        (
                            link.product_key,
                            session.get(models.CatalogProduct, link.catalog_product_id).gtin,
                        )
                        for link in version.products
                    ),
                )
                for version in list_versions(session, key)
            ]

    with session_scope(url) as session:
        publish_planogram(session, small_planogram("full"))
        publish_planogram(session, small_planogram("full", cola_facings=3))
        first = publish_prepared(session, prepare_publication(small_planogram("prepared")))
        again = publish_prepared(session, prepare_publication(small_planogram("prepared")))
        assert again.id == first.id, "re-publishing an identical prepared document is idempotent"
        edited = publish_prepared(
            session, prepare_publication(small_planogram("prepared", cola_facings=3))
        )
        assert edited.version == 2
        # A planogram published either way is recognised by the other as the same document.
        assert publish_planogram(session, small_planogram("prepared", cola_facings=3)).id == (
            edited.id
        )
        assert publish_prepared(session, prepare_publication(small_planogram("full"))).version == 3

    engine_for(url).dispose()  # read back from the database alone
    expected_facings = {"full": [2, 3, 2], "prepared": [2, 3]}
    for key, cola_facings in expected_facings.items():
        rows = stored(key)
        assert [row[0] for row in rows] == list(range(1, len(cola_facings) + 1))
        for (_, sha256, document, links), facings in zip(rows, cola_facings, strict=True):
            planogram = small_planogram(key, cola_facings=facings)
            assert sha256 == hashlib.sha256(dump_canonical(planogram).encode()).hexdigest()
            assert document == planogram_to_dict(planogram)
            assert planogram_from_version(document) == planogram
            assert links == [("p1", "4006381333931"), ("p2", "5449000000996")]
    with session_scope(url) as session:
        # Both paths share one product master: two products, not four.
        assert session.scalar(select(func.count()).select_from(models.CatalogProduct)) == 2
