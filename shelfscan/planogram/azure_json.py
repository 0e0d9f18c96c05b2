"""Azure planogram JSON (Product Recognition preview), camelCase as documented and PascalCase as
in the official sample. One position per facing, arbitrary units, origin top-left."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import Fixture, FixtureType, Planogram, Position, Product, Unit

_SECTIONS = ("products", "fixtures", "positions")


def _key(mapping: Mapping[str, Any], name: str) -> str | None:
    """The key spelled either camelCase (``productId``) or PascalCase (``ProductId``)."""
    for candidate in (name, name[:1].upper() + name[1:]):
        if candidate in mapping:
            return candidate
    return None


def _get(mapping: Mapping[str, Any], name: str) -> Any:
    key = _key(mapping, name)
    return None if key is None else mapping[key]


def import_azure_planogram(
    document: Any, *, planogram_id: str = "azure", name: str = "", unit: Unit = Unit.IN
) -> Planogram:
    """Parse an Azure planogram document, reporting every structural problem at once."""
    if not isinstance(document, Mapping):
        raise PlanogramError([Problem("planogram", "expected a JSON object")])
    problems: list[Problem] = []

    def number(item: Mapping[str, Any], field: str, where: str) -> float:
        key = _key(item, field)
        if key is None:
            problems.append(Problem(f"{where}.{field}", "missing"))
            return math.nan
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(f"{where}.{key}", f"expected a number, got {value!r}"))
            return math.nan
        return float(value)

    def text(item: Mapping[str, Any], field: str, where: str) -> str:
        key = _key(item, field)
        if key is None:
            problems.append(Problem(f"{where}.{field}", "missing"))
            return ""
        value = item[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value:
            problems.append(
                Problem(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
            )
            return ""
        return value

    sections: dict[str, list[Mapping[str, Any]]] = {}
    for section in _SECTIONS:
        key = _key(document, section)
        value = document[key] if key else None
        if not isinstance(value, list):
            problems.append(Problem(key or section, "missing or not a list"))
            sections[section] = []
            continue
        items = []
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                items.append(item)
            else:
                problems.append(Problem(f"{key}[{index}]", "expected an object"))
        sections[section] = items

    def where(section: str, index: int) -> str:
        return f"{_key(document, section) or section}[{index}]"

    products = [
        Product(
            id=text(p, "id", where("products", i)),
            name=text(p, "name", where("products", i)),
            w=number(p, "w", where("products", i)),
            h=number(p, "h", where("products", i)),
        )
        for i, p in enumerate(sections["products"])
    ]
    fixtures = [
        Fixture(
            id=text(f, "id", where("fixtures", i)),
            type=FixtureType.SHELF,
            x=number(f, "x", where("fixtures", i)),
            y=number(f, "y", where("fixtures", i)),
            w=number(f, "w", where("fixtures", i)),
            h=number(f, "h", where("fixtures", i)),
        )
        for i, f in enumerate(sections["fixtures"])
    ]
    positions = [
        Position(
            id=text(p, "id", where("positions", i)),
            product_id=text(p, "productId", where("positions", i)),
            fixture_id=text(p, "fixtureId", where("positions", i)),
            x=number(p, "x", where("positions", i)),
            y=number(p, "y", where("positions", i)),
        )
        for i, p in enumerate(sections["positions"])
    ]
    width = number(document, "width", "planogram")
    height = number(document, "height", "planogram")
    if problems:
        raise PlanogramError(problems)
    return Planogram(
        id=planogram_id,
        name=name,
        unit=unit,
        width=width,
        height=height,
        fixtures=fixtures,
        products=products,
        positions=positions,
    )


def export_azure_planogram(planogram: Planogram) -> dict[str, Any]:
    """camelCase Azure JSON; multi-facing positions expand to one position per facing."""
    return {
        "width": planogram.width,
        "height": planogram.height,
        "products": [{"id": p.id, "name": p.name, "w": p.w, "h": p.h} for p in planogram.products],
        "fixtures": [
            {"id": f.id, "x": f.x, "y": f.y, "w": f.w, "h": f.h} for f in planogram.fixtures
        ],
        "positions": [
            {
                "id": facing.facing_id,
                "productId": facing.product_id,
                "fixtureId": facing.fixture_id,
                "x": facing.x,
                "y": facing.y,
            }
            for facing in planogram.facings()
        ],
    }
