"""A store's product catalogue: the products its planograms draw from, in one unit."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shelfscan.planogram.canonical import problems_from_validation_error
from shelfscan.planogram.errors import PlanogramError, Problem
from shelfscan.planogram.model import Planogram, Product, Unit


class ProductCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str = ""
    unit: Unit = Unit.CM
    products: list[Product] = Field(default_factory=list)

    def by_key(self) -> dict[str, Product]:
        """Products by id and by GTIN, for importers that name products either way."""
        keys: dict[str, Product] = {}
        for product in self.products:
            if product.gtin:
                keys.setdefault(product.gtin, product)
        for product in self.products:
            keys[product.id] = product
        return keys


def load_catalog(path: str | Path) -> ProductCatalog:
    try:
        return ProductCatalog.model_validate_json(Path(path).read_bytes())
    except ValidationError as error:
        raise PlanogramError(problems_from_validation_error(error)) from None
    except OSError as error:
        raise PlanogramError([Problem(str(path), f"cannot read: {error.strerror}")]) from None


def catalog_problems(planogram: Planogram, catalog: ProductCatalog) -> list[Problem]:
    """Where a planogram disagrees with its store's catalogue (unknown ids, other sizes)."""
    known = {p.id: p for p in catalog.products}
    problems = []
    if planogram.unit != catalog.unit:
        problems.append(
            Problem(
                "unit",
                f"mixed units: the planogram is in {planogram.unit.value!r}, the catalogue in "
                f"{catalog.unit.value!r}",
            )
        )
    for index, product in enumerate(planogram.products):
        reference = known.get(product.id)
        if reference is None:
            problems.append(
                Problem(f"products[{index}].id", f"{product.id!r} is not in the catalogue")
            )
            continue
        for field in ("gtin", "name", "brand", "category", "w", "h", "depth"):
            mine, theirs = getattr(product, field), getattr(reference, field)
            if mine != theirs:
                problems.append(
                    Problem(
                        f"products[{index}].{field}",
                        f"{mine!r} differs from the catalogue's {theirs!r}",
                    )
                )
    return problems
