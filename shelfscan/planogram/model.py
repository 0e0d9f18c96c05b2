"""Canonical planogram model.

Pure pydantic: no database, web or torch imports. Coordinates are planogram units with the
origin at the top-left of the planogram and y growing downwards (the image convention);
importers of bottom-left formats flip on the way in. A position's ``x, y`` is the top-left
corner of its first facing; ``hfacings`` repeat to the right, ``vfacings`` stack downwards.

Field constraints are deliberately loose so that a bad file still parses into a model;
``shelfscan.planogram.validation`` then reports every problem with its location at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Unit(StrEnum):
    MM = "mm"
    CM = "cm"
    IN = "in"


class FixtureType(StrEnum):
    SHELF = "shelf"
    PEG = "peg"
    BAR = "bar"
    BASKET = "basket"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Product(_Model):
    id: str
    gtin: str | None = Field(default=None, description="GTIN/UPC/EAN, digits only")
    name: str
    brand: str | None = None
    category: str | None = None
    w: float = Field(description="Front-face width in planogram units")
    h: float = Field(description="Front-face height in planogram units")
    depth: float | None = None
    packshots: list[str] = Field(default_factory=list, description="Packshot image paths")


class Bay(_Model):
    id: str
    name: str | None = None
    x: float = 0.0
    w: float | None = None


class Fixture(_Model):
    id: str
    type: FixtureType = FixtureType.SHELF
    x: float
    y: float
    w: float
    h: float
    bay_id: str | None = None


class Position(_Model):
    id: str
    product_id: str
    fixture_id: str
    x: float
    y: float
    hfacings: int = 1
    vfacings: int = 1
    sequence: int | None = Field(default=None, description="Order along the fixture, from 1")


class Planogram(_Model):
    id: str
    name: str = ""
    unit: Unit = Unit.IN
    width: float
    height: float
    bays: list[Bay] = Field(default_factory=list)
    fixtures: list[Fixture] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    positions: list[Position] = Field(default_factory=list)

    def product_by_id(self) -> dict[str, Product]:
        return {p.id: p for p in self.products}

    def fixture_by_id(self) -> dict[str, Fixture]:
        return {f.id: f for f in self.fixtures}

    def facings(self) -> list[ExpectedFacing]:
        """Every facing as its own expected rectangle, in position order.

        Positions that reference an unknown product are skipped; validation reports them.
        """
        products = self.product_by_id()
        result: list[ExpectedFacing] = []
        for position in self.positions:
            product = products.get(position.product_id)
            if product is None:
                continue
            single = position.hfacings == 1 and position.vfacings == 1
            for row in range(max(position.vfacings, 0)):
                for column in range(max(position.hfacings, 0)):
                    result.append(
                        ExpectedFacing(
                            facing_id=position.id if single else f"{position.id}:{column}:{row}",
                            position_id=position.id,
                            product_id=product.id,
                            product_name=product.name,
                            gtin=product.gtin,
                            fixture_id=position.fixture_id,
                            x=position.x + column * product.w,
                            y=position.y + row * product.h,
                            w=product.w,
                            h=product.h,
                            column=column,
                            row=row,
                            sequence=position.sequence,
                        )
                    )
        return result


@dataclass(frozen=True)
class ExpectedFacing:
    """One facing's expected rectangle in planogram units (top-left origin)."""

    facing_id: str
    position_id: str
    product_id: str
    product_name: str
    gtin: str | None
    fixture_id: str
    x: float
    y: float
    w: float
    h: float
    column: int = 0
    row: int = 0
    sequence: int | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)
