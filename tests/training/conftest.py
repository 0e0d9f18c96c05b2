from __future__ import annotations

import pytest

from shelfscan.planogram.model import Fixture, Planogram, Position, Product


def tiny_planogram(planogram_id: str = "tiny") -> Planogram:
    """Two shelves, three products, eight facings (one multi-facing position)."""
    products = [
        Product(id="cola", name="Cola 330ml", w=6.0, h=12.0),
        Product(id="lemon", name="Lemonade 330ml", w=6.0, h=12.0),
        Product(id="chips", name="Salt Chips", w=10.0, h=14.0, brand="Crispy"),
    ]
    fixtures = [
        Fixture(id="top", x=0, y=20, w=60, h=2),
        Fixture(id="bottom", x=0, y=40, w=60, h=2),
    ]
    positions = [
        Position(id="p1", product_id="cola", fixture_id="top", x=1, y=8, hfacings=3),
        Position(id="p2", product_id="lemon", fixture_id="top", x=20, y=8, hfacings=2),
        Position(id="p3", product_id="chips", fixture_id="bottom", x=2, y=26, hfacings=3),
    ]
    return Planogram(
        id=planogram_id,
        name="Tiny",
        unit="in",
        width=60,
        height=44,
        fixtures=fixtures,
        products=products,
        positions=positions,
    )


@pytest.fixture
def planogram() -> Planogram:
    return tiny_planogram()
