"""The demo store ``DEMO-001``: a product catalogue and four one-metre gondola bays (crackers,
cereal, drinks, and a mixed bay with peg hooks), all in centimetres.

Brands and GTINs are fictional: GTINs use the GS1 restricted-circulation prefix 200 so they can
never collide with real products. The published files in ``planograms/`` are generated from the
layout below; regenerate them after changing it:

    python -m shelfscan.demo_store

Demo data, not part of the pure core (it reads the project's paths from the settings); the
running demo (``shelfscan demo``) lives in :mod:`shelfscan.demo`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from shelfscan.planogram.canonical import dump_canonical
from shelfscan.planogram.catalog import ProductCatalog
from shelfscan.planogram.model import Bay, Fixture, FixtureType, Planogram, Position, Product, Unit
from shelfscan.planogram.validation import gtin_with_check_digit
from shelfscan.settings import AZURE_SAMPLE_DIR, PLANOGRAM_LIBRARY

STORE_ID = "DEMO-001"
LIBRARY_DIR = PLANOGRAM_LIBRARY
BAY_WIDTH = 100.0
SHELF_THICKNESS = 3.0
BASE_HEIGHT = 12.0  # the kick plate under the bottom shelf
LEFT_MARGIN = 1.0
BLOCK_GAP = 0.5

# id, name, brand, category, width, height, depth (cm, front face as GS1 measures it)
_PRODUCTS: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    ("CRK-01", "Crunchwell Original Crackers 200 g", "Crunchwell", "Crackers", 19.0, 24.0, 5.5),
    ("CRK-02", "Crunchwell Sesame Crackers 200 g", "Crunchwell", "Crackers", 19.0, 24.0, 5.5),
    ("CRK-03", "Crunchwell Rosemary Crackers 200 g", "Crunchwell", "Crackers", 19.0, 24.0, 5.5),
    ("CRK-04", "Harvest Mill Whole Wheat Thins 250 g", "Harvest Mill", "Crackers", 13.0, 21.0, 8.0),
    ("CRK-05", "Harvest Mill Sea Salt Thins 250 g", "Harvest Mill", "Crackers", 13.0, 21.0, 8.0),
    ("CRK-06", "Butterleaf Round Crackers 300 g", "Butterleaf", "Crackers", 21.0, 19.5, 7.0),
    ("CRK-07", "Butterleaf Snack Stacks 4 x 50 g", "Butterleaf", "Crackers", 11.0, 20.0, 11.0),
    ("CRK-08", "Oatbarn Oat Crackers 240 g", "Oatbarn", "Crackers", 9.5, 22.0, 9.5),
    ("CRK-09", "Oatbarn Cheese Oat Crackers 240 g", "Oatbarn", "Crackers", 9.5, 22.0, 9.5),
    ("CRK-10", "Nordkorn Rye Crispbread 250 g", "Nordkorn", "Crackers", 11.5, 27.0, 4.5),
    ("CRK-11", "Chickadee Cheese Biscuits 225 g", "Chickadee", "Crackers", 12.5, 20.0, 5.0),
    ("CER-01", "Sunny Fields Corn Flakes 500 g", "Sunny Fields", "Cereal", 27.0, 36.0, 7.0),
    ("CER-02", "Sunny Fields Corn Flakes 250 g", "Sunny Fields", "Cereal", 19.0, 27.5, 6.0),
    ("CER-03", "Sunny Fields Honey Rings 375 g", "Sunny Fields", "Cereal", 22.0, 31.0, 6.5),
    ("CER-04", "Alpenhof Fruit Muesli 750 g", "Alpenhof", "Cereal", 19.5, 30.0, 8.5),
    ("CER-05", "Alpenhof Nut Muesli 750 g", "Alpenhof", "Cereal", 19.5, 30.0, 8.5),
    ("CER-06", "Cocoland Choc Puffs 450 g", "Cocoland", "Cereal", 24.0, 33.0, 7.0),
    ("CER-07", "Oatbarn Porridge Oats 1 kg", "Oatbarn", "Cereal", 17.0, 24.5, 11.0),
    ("CER-08", "Oatbarn Instant Porridge Cups 6 x 35 g", "Oatbarn", "Cereal", 18.0, 15.0, 12.0),
    ("CER-09", "Granola Bay Crunchy Granola 500 g", "Granola Bay", "Cereal", 16.0, 25.0, 7.5),
    ("CER-10", "Granola Bay Cereal Bars 6 x 25 g", "Granola Bay", "Cereal", 15.0, 9.5, 5.0),
    ("DRK-01", "Fizzo Cola 2 L", "Fizzo", "Soft drinks", 11.0, 32.0, 11.0),
    ("DRK-02", "Fizzo Cola Zero 2 L", "Fizzo", "Soft drinks", 11.0, 32.0, 11.0),
    ("DRK-03", "Fizzo Lemon 1.5 L", "Fizzo", "Soft drinks", 9.5, 31.0, 9.5),
    ("DRK-04", "Fizzo Cola Can 330 ml", "Fizzo", "Soft drinks", 6.6, 11.5, 6.6),
    ("DRK-05", "Fizzo Orange Can 330 ml", "Fizzo", "Soft drinks", 6.6, 11.5, 6.6),
    ("DRK-06", "Alpine Spring Still Water 1.5 L", "Alpine Spring", "Water", 9.0, 30.5, 9.0),
    ("DRK-07", "Alpine Spring Sparkling Water 1.5 L", "Alpine Spring", "Water", 9.0, 30.5, 9.0),
    ("DRK-08", "Alpine Spring Still Water 500 ml", "Alpine Spring", "Water", 6.5, 21.0, 6.5),
    ("DRK-09", "Orchard Gold Apple Juice 1 L", "Orchard Gold", "Juice", 9.5, 24.5, 6.0),
    ("DRK-10", "Orchard Gold Orange Juice 1 L", "Orchard Gold", "Juice", 9.5, 24.5, 6.0),
    ("DRK-11", "Bolt Energy Drink 250 ml", "Bolt", "Energy drinks", 5.5, 13.5, 5.5),
    ("DRK-12", "Leafy Iced Tea Peach 1.5 L", "Leafy", "Soft drinks", 9.5, 31.0, 9.5),
    ("MIX-01", "Crispo Salted Potato Chips 150 g", "Crispo", "Chips", 22.0, 30.0, 7.0),
    ("MIX-02", "Crispo Paprika Potato Chips 150 g", "Crispo", "Chips", 22.0, 30.0, 7.0),
    ("MIX-03", "Crispo Sour Cream Chips 150 g", "Crispo", "Chips", 22.0, 30.0, 7.0),
    ("MIX-04", "Tortilla Sol Nacho Chips 200 g", "Tortilla Sol", "Chips", 20.0, 28.0, 8.0),
    ("MIX-05", "Nutty Oak Salted Peanuts 200 g", "Nutty Oak", "Nuts", 12.0, 18.0, 5.0),
    ("MIX-06", "Nutty Oak Cashews 150 g", "Nutty Oak", "Nuts", 12.0, 18.0, 5.0),
    ("MIX-07", "Gummy Grove Fruit Bears 200 g", "Gummy Grove", "Candy", 14.0, 20.0, 4.0),
    ("MIX-08", "Gummy Grove Sour Worms 200 g", "Gummy Grove", "Candy", 14.0, 20.0, 4.0),
    ("MIX-09", "Choco Lane Milk Chocolate 100 g", "Choco Lane", "Chocolate", 8.0, 16.5, 1.2),
    ("MIX-10", "Choco Lane Hazelnut Chocolate 100 g", "Choco Lane", "Chocolate", 8.0, 16.5, 1.2),
    ("MIX-11", "Popfield Microwave Popcorn 3 x 90 g", "Popfield", "Snacks", 15.0, 20.0, 6.5),
    ("MIX-12", "Pretzel Farm Mini Pretzels 250 g", "Pretzel Farm", "Snacks", 18.0, 26.0, 6.0),
)


@dataclass(frozen=True)
class _Shelf:
    """One fixture: its kind, the clear space above (or below, for pegs) and its blocks."""

    space: float
    blocks: tuple[tuple[str, int, int], ...]  # product id, hfacings, vfacings
    type: FixtureType = FixtureType.SHELF


# Each bay from the top shelf down; spaces plus shelves plus the base make its height.
_BAYS: dict[str, tuple[str, tuple[_Shelf, ...]]] = {
    "crackers": (
        "Crackers",
        (
            _Shelf(30.0, (("CRK-10", 3, 1), ("CRK-08", 3, 1), ("CRK-09", 3, 1))),
            _Shelf(30.0, (("CRK-06", 2, 1), ("CRK-07", 4, 1))),
            _Shelf(28.0, (("CRK-04", 2, 1), ("CRK-05", 2, 1), ("CRK-11", 3, 1))),
            _Shelf(30.0, (("CRK-01", 2, 1), ("CRK-02", 2, 1), ("CRK-03", 1, 1))),
            _Shelf(30.0, (("CRK-01", 3, 1), ("CRK-02", 1, 1), ("CRK-03", 1, 1))),
        ),
    ),
    "cereal": (
        "Cereal",
        (
            _Shelf(36.0, (("CER-09", 1, 1), ("CER-04", 2, 1), ("CER-05", 2, 1))),
            _Shelf(38.0, (("CER-03", 2, 1), ("CER-06", 2, 1))),
            _Shelf(32.0, (("CER-02", 2, 1), ("CER-07", 2, 1), ("CER-08", 1, 2))),
            _Shelf(40.0, (("CER-01", 3, 1), ("CER-10", 1, 3))),
        ),
    ),
    "drinks": (
        "Drinks",
        (
            _Shelf(26.0, (("DRK-04", 5, 2), ("DRK-05", 4, 2), ("DRK-11", 4, 1))),
            _Shelf(27.0, (("DRK-09", 4, 1), ("DRK-10", 4, 1), ("DRK-08", 3, 1))),
            _Shelf(34.0, (("DRK-03", 3, 1), ("DRK-12", 3, 1), ("DRK-07", 4, 1))),
            _Shelf(34.0, (("DRK-01", 4, 1), ("DRK-02", 3, 1), ("DRK-06", 2, 1))),
            _Shelf(34.0, (("DRK-06", 5, 1), ("DRK-07", 5, 1))),
        ),
    ),
    "mixed": (
        "Mixed snacks",
        (
            _Shelf(22.0, (("MIX-07", 2, 1), ("MIX-08", 2, 1), ("MIX-05", 2, 1)), FixtureType.PEG),
            _Shelf(22.0, (("MIX-05", 1, 1), ("MIX-06", 3, 1), ("MIX-11", 2, 1)), FixtureType.PEG),
            _Shelf(20.0, (("MIX-09", 4, 1), ("MIX-10", 4, 1), ("CRK-01", 1, 1))),
            _Shelf(32.0, (("MIX-01", 2, 1), ("MIX-02", 1, 1), ("MIX-12", 1, 1))),
            _Shelf(32.0, (("MIX-03", 2, 1), ("MIX-04", 2, 1))),
        ),
    ),
}


def build_catalog() -> ProductCatalog:
    products = []
    for number, (ident, name, brand, category, w, h, depth) in enumerate(_PRODUCTS, start=1):
        products.append(
            Product(
                id=ident,
                gtin=gtin_with_check_digit(f"200{number:09d}"),
                name=name,
                brand=brand,
                category=category,
                w=w,
                h=h,
                depth=depth,
            )
        )
    return ProductCatalog(id=STORE_ID, name="Demo store", unit=Unit.CM, products=products)


def build_bay(key: str, catalog: ProductCatalog | None = None) -> Planogram:
    """One demo bay as a canonical planogram (origin top-left, cm)."""
    catalog = catalog or build_catalog()
    products = {p.id: p for p in catalog.products}
    title, shelves = _BAYS[key]
    bay_id = f"{key}-1"
    fixtures: list[Fixture] = []
    positions: list[Position] = []
    used: list[str] = []
    y = 0.0
    for number, shelf in enumerate(shelves, start=1):
        fixture_id = f"{key}-s{number}"
        if shelf.type is FixtureType.PEG:
            # A peg rail: products hang in the space below it.
            rail_y, y_next = y, y + SHELF_THICKNESS / 3 + shelf.space
            fixture = Fixture(
                id=fixture_id,
                type=shelf.type,
                x=0.0,
                y=rail_y,
                w=BAY_WIDTH,
                h=SHELF_THICKNESS / 3,
                bay_id=bay_id,
            )
        else:
            y += shelf.space
            fixture = Fixture(
                id=fixture_id, x=0.0, y=y, w=BAY_WIDTH, h=SHELF_THICKNESS, bay_id=bay_id
            )
            y_next = y + SHELF_THICKNESS
        fixtures.append(fixture)
        x = LEFT_MARGIN
        for sequence, (product_id, hfacings, vfacings) in enumerate(shelf.blocks, start=1):
            product = products[product_id]
            top = (
                fixture.y + fixture.h
                if shelf.type is FixtureType.PEG
                else fixture.y - vfacings * product.h
            )
            positions.append(
                Position(
                    id=f"{fixture_id}-p{sequence}",
                    product_id=product_id,
                    fixture_id=fixture_id,
                    x=round(x, 3),
                    y=round(top, 3),
                    hfacings=hfacings,
                    vfacings=vfacings,
                    sequence=sequence,
                )
            )
            if product_id not in used:
                used.append(product_id)
            x += hfacings * product.w + BLOCK_GAP
        y = y_next
    height = y + BASE_HEIGHT
    return Planogram(
        id=f"{STORE_ID}-{key}",
        name=f"{STORE_ID} {title}",
        unit=Unit.CM,
        width=BAY_WIDTH,
        height=round(height, 3),
        bays=[Bay(id=bay_id, name=title, x=0.0, w=BAY_WIDTH)],
        fixtures=fixtures,
        products=[products[ident] for ident in used],
        positions=positions,
    )


def build_demo_store() -> tuple[ProductCatalog, list[Planogram]]:
    catalog = build_catalog()
    return catalog, [build_bay(key, catalog) for key in _BAYS]


AZURE_SAMPLE = AZURE_SAMPLE_DIR / "sample_planogram.json"


def build_azure_sample(path: Path = AZURE_SAMPLE) -> Planogram:
    """Microsoft's sample planogram in canonical form. Packshots are named, not copied: render
    it with the sample's ``catalog`` folder as the packshot directory."""
    from shelfscan.planogram.loader import load_planogram_file

    planogram = load_planogram_file(path, planogram_id="azure-sample-crackers")
    products = [
        product.model_copy(update={"packshots": [f"{product.name}.png"], "category": "Crackers"})
        for product in planogram.products
    ]
    return planogram.model_copy(update={"name": "Azure sample: crackers bay", "products": products})


def demo_store_files(azure_sample: Path | None = AZURE_SAMPLE) -> dict[str, str]:
    """Relative path under ``planograms/`` → file text, for every generated file (the Azure
    sample's only when its source file is there)."""
    catalog, bays = build_demo_store()
    files = {
        "catalog/demo-store.json": json.dumps(
            catalog.model_dump(mode="json"), indent=2, ensure_ascii=False
        )
        + "\n"
    }
    for key, planogram in zip(_BAYS, bays, strict=True):
        files[f"demo-store/{key}.json"] = dump_canonical(planogram)
    if azure_sample is not None and azure_sample.exists():
        files["azure-sample/crackers.json"] = dump_canonical(build_azure_sample(azure_sample))
    return files


def write_demo_store(root: Path = LIBRARY_DIR) -> list[Path]:
    written = []
    for relative, text in demo_store_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_demo_store(Path(sys.argv[1]) if len(sys.argv) > 1 else LIBRARY_DIR):
        print(written_path)
