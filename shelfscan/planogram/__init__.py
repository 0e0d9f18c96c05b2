"""Planogram: the canonical model, its importers, exporters, validation and rendering."""

from shelfscan.planogram.model import (
    Bay,
    ExpectedFacing,
    Fixture,
    FixtureType,
    Planogram,
    Position,
    Product,
    Unit,
)

__all__ = [
    "Bay",
    "ExpectedFacing",
    "Fixture",
    "FixtureType",
    "Planogram",
    "Position",
    "Product",
    "Unit",
]
