"""Time planogram validation, import and rendering on synthetic planograms of growing size,
then the hostile cases of issue 19 (positions piled on one shelf, 100,000 positions, a sparse
XLSX, a column of stacked fixtures).

python benchmarks/planogram_validation.py [--hostile-only]
"""

from __future__ import annotations

import io
import sys
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


def piled(count: int) -> Planogram:
    """``count`` one-facing positions piled at the same place on one shelf: every pair overlaps."""
    return Planogram(
        id="pile",
        unit=Unit.CM,
        width=200.0,
        height=100.0,
        fixtures=[Fixture(id="f", x=0, y=50, w=200, h=2)],
        products=[Product(id="p", name="P", w=10, h=20)],
        positions=[
            Position(id=f"p{i}", product_id="p", fixture_id="f", x=0.0, y=30.0)
            for i in range(count)
        ],
    )


def stacked_fixtures(fixtures: int, positions: int) -> Planogram:
    """``fixtures`` thin shelves in one column, ``positions`` narrow products spread over them:
    the space check meets every fixture above each position."""
    pitch = 2.0
    return Planogram(
        id="stack",
        unit=Unit.CM,
        width=1000.0,
        height=fixtures * pitch + 10,
        fixtures=[
            Fixture(id=f"f{k}", x=0, y=10 + k * pitch, w=1000, h=0.1) for k in range(fixtures)
        ],
        products=[Product(id="p", name="P", w=0.04, h=1.0)],
        positions=[
            Position(
                id=f"p{i}",
                product_id="p",
                fixture_id=f"f{i % fixtures}",
                x=(i // fixtures) * 0.05,
                y=10 + (i % fixtures) * pitch - 1.0,
            )
            for i in range(positions)
        ],
    )


def sparse_xlsx() -> bytes:
    """4.9 KB: cell A1 and cell XFD20000."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["A1"] = "shelf"
    workbook.active["XFD20000"] = 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def hostile() -> None:
    from shelfscan.planogram.canonical import dump_canonical
    from shelfscan.planogram.loader import read_planogram

    try:  # the limits policy; older trees have none
        from shelfscan.planogram.limits import PlanogramLimits

        roomy = {
            "limits": PlanogramLimits(max_positions=10**6, max_fixtures=10**6, max_facings=10**7)
        }
    except ImportError:
        roomy = {}
    big = {"max_bytes": 10**9, **roomy}

    print(f"\n{'case':<52} {'seconds':>8} {'problems':>9} {'answer KB':>10}")

    def row(case: str, seconds: float, problems: list) -> None:
        size = sum(len(p.location) + len(p.problem) for p in problems) / 1024
        print(f"{case:<52} {seconds:>8.2f} {len(problems):>9,} {size:>10,.0f}")

    for count in (1_000, 2_000):
        planogram = piled(count)
        seconds, problems = timed(lambda p=planogram: validate_planogram(p))
        row(f"validate {count:,} piled on one shelf", seconds, problems)
        data = dump_canonical(planogram).encode()
        seconds, result = timed(lambda d=data: read_planogram(d, filename="pile.json", **big))
        row(f"canonical import {count:,} piled", seconds, result.problems)
    planogram = synthetic(2_000)
    seconds, problems = timed(lambda: validate_planogram(planogram))
    row(f"validate {len(planogram.positions):,} valid positions", seconds, problems)
    data = dump_canonical(planogram).encode()
    seconds, result = timed(lambda: read_planogram(data, filename="big.json", **big))
    row(f"canonical import {len(planogram.positions):,} (limits raised)", seconds, result.problems)
    seconds, result = timed(lambda: read_planogram(data, filename="big.json", max_bytes=10**9))
    row(f"canonical import {len(planogram.positions):,} (default limits)", seconds, result.problems)
    planogram = stacked_fixtures(1_000, 20_000)
    seconds, problems = timed(lambda: validate_planogram(planogram))
    row("validate 20,000 positions on 1,000 stacked shelves", seconds, problems)
    data = sparse_xlsx()
    seconds, result = timed(lambda: read_planogram(data, filename="sparse.xlsx"))
    row(f"sparse XLSX ({len(data):,} bytes, A1 + XFD20000)", seconds, result.problems)


def main() -> None:
    if "--hostile-only" in sys.argv:
        hostile()
        return
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
    hostile()


if __name__ == "__main__":
    main()
