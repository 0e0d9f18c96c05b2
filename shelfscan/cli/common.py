"""Helpers shared by the commands that read a planogram file."""

from __future__ import annotations

from pathlib import Path

import typer

from shelfscan.planogram.errors import PlanogramError
from shelfscan.planogram.loader import load_planogram_file
from shelfscan.planogram.model import Planogram


def load_planogram_or_exit(path: Path) -> Planogram:
    """The planogram in ``path`` (any supported format), or every problem printed and exit 2."""
    try:
        return load_planogram_file(path)
    except PlanogramError as error:
        typer.echo(f"error: {path}: invalid planogram", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from error
