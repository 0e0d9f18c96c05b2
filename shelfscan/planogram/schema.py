"""JSON Schemas of canonical planogram and catalogue JSON, generated from the pydantic models.

The published copies live in ``planograms/schema/``; regenerate them after changing the model:

    python -m shelfscan.planogram.schema
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shelfscan.planogram.catalog import ProductCatalog
from shelfscan.planogram.model import Planogram

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "planograms" / "schema"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def planogram_json_schema() -> dict[str, Any]:
    schema = Planogram.model_json_schema()
    return {
        "$schema": _DIALECT,
        "$id": "https://shelfscan.dev/schema/planogram.schema.json",
        "description": (
            "A shelfscan canonical planogram. Coordinates are planogram units with the origin "
            "at the top-left and y growing downwards; a position's x, y is the top-left corner "
            "of its first facing, hfacings repeat to the right and vfacings stack downwards."
        ),
        **schema,
    }


def catalog_json_schema() -> dict[str, Any]:
    return {
        "$schema": _DIALECT,
        "$id": "https://shelfscan.dev/schema/catalog.schema.json",
        "description": "A store's product catalogue, in one unit.",
        **ProductCatalog.model_json_schema(),
    }


def schema_text(schema: dict[str, Any] | None = None) -> str:
    return json.dumps(schema or planogram_json_schema(), indent=2, ensure_ascii=False) + "\n"


PUBLISHED = {
    "planogram.schema.json": planogram_json_schema,
    "catalog.schema.json": catalog_json_schema,
}


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write the published schemas; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in PUBLISHED.items():
        path = directory / name
        path.write_text(schema_text(build()), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(written_path)
