"""The published planogram library (``planograms/``) is valid, current and matches its schema."""

from __future__ import annotations

import json

import pytest

from shelfscan.demo_store import build_azure_sample, demo_store_files
from shelfscan.planogram.catalog import catalog_problems, load_catalog
from shelfscan.planogram.loader import load_planogram_file
from shelfscan.planogram.model import FixtureType, Planogram
from shelfscan.planogram.render import missing_packshots
from shelfscan.planogram.schema import PUBLISHED, SCHEMA_DIR, schema_text
from shelfscan.planogram.validation import gtin_problem

from .conftest import AZURE_CATALOG, AZURE_SAMPLE, REPO, needs_azure_sample
from .test_planogram_importers import layout_of

LIBRARY = REPO / "planograms"
DEMO_BAYS = sorted((LIBRARY / "demo-store").glob("*.json"))


def test_published_schemas_are_current() -> None:
    for name, build in PUBLISHED.items():
        published = (SCHEMA_DIR / name).read_text()
        assert published == schema_text(build()), (
            f"planograms/schema/{name} is stale: run python -m shelfscan.planogram.schema"
        )


def test_published_demo_store_is_what_the_generator_makes() -> None:
    for relative, text in demo_store_files(azure_sample=None).items():
        assert (LIBRARY / relative).read_text() == text, (
            f"planograms/{relative} is stale: run python -m shelfscan.demo_store"
        )


def test_demo_store_bays_are_valid_and_real_looking() -> None:
    assert [path.stem for path in DEMO_BAYS] == ["cereal", "crackers", "drinks", "mixed"]
    catalog = load_catalog(LIBRARY / "catalog" / "demo-store.json")
    assert all(gtin_problem(p.gtin or "") is None for p in catalog.products)
    used: set[str] = set()
    for path in DEMO_BAYS:
        planogram = load_planogram_file(path)  # raises with every problem if any
        assert planogram == Planogram.model_validate_json(path.read_text())
        assert catalog_problems(planogram, catalog) == []
        assert 8 <= len(planogram.products) <= 15, path.name
        assert 4 <= len(planogram.fixtures) <= 5  # shelves or peg rails
        assert any(p.hfacings > 1 for p in planogram.positions)
        assert 150 <= planogram.height <= 200 and planogram.width == 100
        used |= {p.id for p in planogram.products}
    assert used == {p.id for p in catalog.products}  # no orphans in the catalogue
    mixed = load_planogram_file(LIBRARY / "demo-store" / "mixed.json")
    assert any(f.type is FixtureType.PEG for f in mixed.fixtures)


def test_library_files_match_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    planogram_schema = json.loads((SCHEMA_DIR / "planogram.schema.json").read_text())
    catalog_schema = json.loads((SCHEMA_DIR / "catalog.schema.json").read_text())
    for path in [*DEMO_BAYS, LIBRARY / "azure-sample" / "crackers.json"]:
        jsonschema.validate(json.loads(path.read_text()), planogram_schema)
    jsonschema.validate(
        json.loads((LIBRARY / "catalog" / "demo-store.json").read_text()), catalog_schema
    )
    bad = json.loads(DEMO_BAYS[0].read_text())
    bad["positions"][0]["hfacings"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, planogram_schema)


@needs_azure_sample
def test_azure_sample_in_the_library_is_the_sample() -> None:
    published = load_planogram_file(LIBRARY / "azure-sample" / "crackers.json")
    assert published == build_azure_sample(AZURE_SAMPLE)
    assert layout_of(published) == layout_of(load_planogram_file(AZURE_SAMPLE))
    assert missing_packshots(published, AZURE_CATALOG) == []
