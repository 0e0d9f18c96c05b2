"""Time planogram validation, import and rendering on synthetic planograms of growing size.

python benchmarks/planogram_validation.py
"""

from __future__ import annotations

import time

from shelfscan.planogram.model import Fixture, Planogram, Position, Product, Unit
from shelfscan.planogram.psa import export_psa, import_psa
from shelfscan.planogram.render import render_planogram
from shelfscan.planogram.validation import validate_planogram


def synthetic(bays: int, shelves: int = 5, per_shelf: int = 10) -> Planogram:
    """``bays`` one-metre bays side by side, each shelf full of 9 cm wide products."""
    products = [Product(id=f"P{i}", name=f"Product {i}", w=9.0, h=25.0) for i in range(50)]
    fixtures, positions = [], []
    for bay in range(bays):
        for shelf in range(shelves):
            fixture = Fixture(
                id=f"b{bay}s{shelf}", x=bay * 100.0, y=30.0 + shelf * 33.0, w=100, h=3
            )
            fixtures.append(fixture)
            for slot in range(per_shelf):
                positions.append(
                    Position(
                        id=f"{fixture.id}p{slot}",
                        product_id=f"P{(bay + shelf * 7 + slot) % 50}",
                        fixture_id=fixture.id,
                        x=fixture.x + 0.5 + slot * 9.5,
                        y=fixture.y - 25.0,
                        sequence=slot + 1,
                    )
                )
    return Planogram(
        id="bench",
        unit=Unit.CM,
        width=bays * 100.0,
        height=200.0,
        fixtures=fixtures,
        products=products,
        positions=positions,
    )


def best_of(repeats: int, action) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"{'bays':>5} {'facings':>8} {'validate ms':>12} {'psa import ms':>14} {'render ms':>10}")
    for bays in (1, 4, 20, 100, 400):
        planogram = synthetic(bays)
        assert validate_planogram(planogram) == []
        text = export_psa(planogram)
        validate_ms = best_of(3, lambda p=planogram: validate_planogram(p)) * 1000
        import_ms = best_of(3, lambda t=text: import_psa(t)) * 1000
        render_ms = (
            best_of(1, lambda p=planogram: render_planogram(p, px_per_unit=2)) * 1000
            if bays <= 20
            else float("nan")
        )
        facings = len(planogram.positions)
        print(f"{bays:>5} {facings:>8} {validate_ms:>12.1f} {import_ms:>14.1f} {render_ms:>10.0f}")


if __name__ == "__main__":
    main()
