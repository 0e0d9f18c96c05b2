"""Located planogram problems, shared by importers, validation, the CLI and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    location: str  # e.g. "positions[3].productId" or "line 12, field 5"
    problem: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}"


class PlanogramError(ValueError):
    """A planogram could not be imported or is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(str(p) for p in problems[:5]) + (" …" if len(problems) > 5 else "")
        )
