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


# A file with one systematic mistake can have a problem per element; past this many the rest
# are counted rather than listed, so that an answer stays small (1,000 overlapping positions
# once gave a 46 MB answer).
DEFAULT_MAX_PROBLEMS = 100
MORE_PROBLEMS_LOCATION = "planogram"


def cap_problems(
    problems: list[Problem], limit: int | None = DEFAULT_MAX_PROBLEMS
) -> list[Problem]:
    """The first ``limit`` problems and, if some were left out, one more that counts them.

    ``None`` keeps them all. The count is the last problem so that callers that show problems
    as a list need nothing special.
    """
    if limit is None or len(problems) <= limit:
        return problems
    left_out = len(problems) - limit
    return [
        *problems[:limit],
        Problem(
            MORE_PROBLEMS_LOCATION,
            f"and {left_out:,} more problem{'s' if left_out != 1 else ''} not listed: only the "
            f"first {limit:,} are reported; fix these and check again",
        ),
    ]


class PlanogramError(ValueError):
    """A planogram could not be imported or is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(str(p) for p in problems[:5]) + (" …" if len(problems) > 5 else "")
        )
