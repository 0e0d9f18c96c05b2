"""Large planogram documents for the hardening tests and benchmarks/hostile.py."""

from __future__ import annotations

from typing import Any


def valid_planogram(shelves: int, per_shelf: int, planogram_id: str = "big") -> dict[str, Any]:
    """``shelves`` × ``per_shelf`` positions, none overlapping, one facing each."""
    width = per_shelf * 10.0
    return {
        "id": planogram_id,
        "name": "Big",
        "unit": "cm",
        "width": width,
        "height": shelves * 30.0,
        "fixtures": [
            {"id": f"S{s}", "x": 0, "y": s * 30 + 28, "w": width, "h": 2} for s in range(shelves)
        ],
        "products": [{"id": "p1", "name": "Box", "w": 10, "h": 25}],
        "positions": [
            {
                "id": f"{s}-{i}",
                "product_id": "p1",
                "fixture_id": f"S{s}",
                "x": i * 10.0,
                "y": s * 30 + 3,
                "hfacings": 1,
            }
            for s in range(shelves)
            for i in range(per_shelf)
        ],
    }


def overlapping_planogram(count: int) -> dict[str, Any]:
    """``count`` positions stacked on one spot of one shelf: every pair overlaps."""
    document = valid_planogram(1, 1, "overlap")
    document["positions"] = [{**document["positions"][0], "id": str(i)} for i in range(count)]
    return document
