"""The compliance report as readable text (``report.txt``, ``shelfscan match``/``analyze``).

Written for a person with a printout or a narrow terminal: at most ``WIDTH`` columns, the
action list first (the same numbers as the annotated photo and the API), then at most three
scores each with what it means, then the detail tables; no pixel boxes. An inconclusive report
says so on its first lines, with the retake instruction, and lists no fixes. Pure (no CLI
imports), so that every door that prints a report shares one rendering.
"""

from __future__ import annotations

import textwrap

from shelfscan.compliance.report import ComplianceReport, FacingStatus, Scores

WIDTH = 100


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def _scores_line(scores: Scores) -> str:
    return (
        f"OSA {_pct(scores.on_shelf_availability)}  out of stock "
        f"{_pct(scores.out_of_stock_rate)}  planogram {_pct(scores.planogram_compliance)}"
    )


def score_lines(report: ComplianceReport) -> list[tuple[str, float | None, str]]:
    """The three scores shown to people, each with its one-line meaning (``docs/kpis.md``)."""
    c, s = report.counts, report.scores
    return [
        (
            "On-shelf availability",
            s.on_shelf_availability,
            f"of the {c.visible} planned spots in the photo, {c.ok} hold the right product",
        ),
        ("Out of stock", s.out_of_stock_rate, f"{c.gap} planned spots are empty"),
        (
            "Planogram compliance",
            s.planogram_compliance,
            "how closely the shelf matches the plan; swapped and extra products count against it",
        ),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _clip(text: str, n: int = 44) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def render_report_text(report: ComplianceReport, *, all_facings: bool = False) -> str:
    """A readable summary: the verdict, the actions, three scores, then the details."""
    c = report.counts
    lines = [
        _clip(
            f"Planogram {report.planogram_id} {report.planogram_name}".rstrip()
            + f" — photo {report.image.width}×{report.image.height}px",
            WIDTH,
        )
    ]
    trust = report.trust
    if trust is not None and not trust.conclusive:
        lines += _wrapped(f"INCONCLUSIVE: {trust.instruction}", "", "  ")
        lines.append(f"  reason: {trust.reason}")
        if trust.likely_bay is not None:
            bay = trust.likely_bay
            lines.append(_clip(f"  most likely bay: {bay.bay} ({bay.planogram_name})", WIDTH))
        lines.append("  No fixes are listed: retake the photo.")
        return "\n".join(_fit(lines))

    lines += [
        f"Facings {c.facings}: {c.ok} ok, {c.gap} gap, {c.misplaced} misplaced, "
        f"{c.not_visible} not visible; {c.unexpected} unexpected products",
        "",
        f"Actions ({len(report.actions)}):",
    ]
    if not report.actions:
        lines.append("  nothing to do: the shelf in the photo matches the plan")
    for action in report.actions:
        lines += _wrapped(action.text, f"{action.number:>3}. ", "     ")
    lines += ["", "Scores:"]
    for name, value, meaning in score_lines(report):
        lines += _wrapped(meaning, f"  {name:<22}{_pct(value)}  ", " " * 32)

    shown = [f for f in report.facings if all_facings or f.status is not FacingStatus.OK]
    title = "All facings" if all_facings else "Facings needing attention"
    lines += ["", f"{title} ({len(shown)}):"]
    if shown:
        lines += _table(
            ["facing", "status", "reason"],
            [[f.facing_id, f.status.value, f.reason] for f in shown],
        )
    if report.unexpected:
        lines += ["", f"Unexpected products ({len(report.unexpected)}):"]
        lines += _table(
            ["detection", "shelf", "kind", "label", "reason"],
            [
                [u.detection_id, u.fixture_id or "-", u.kind.value, _clip(u.label, 28), u.reason]
                for u in report.unexpected
            ],
        )
    lines += ["", "Products:"]
    lines += _table(
        ["product", "name", "planned", "in view", "found", "in place", "gap", "misplaced"],
        [
            [
                p.product_id,
                _clip(p.product_name, 36),
                str(p.expected),
                str(p.visible),
                str(p.found),
                str(p.in_place),
                str(p.gap),
                str(p.misplaced),
            ]
            for p in report.products
        ],
    )
    lines += ["", "Shelves:"]
    lines += _table(
        ["fixture", "facings", "ok", "gap", "misplaced", "not visible", "scores"],
        [
            [
                f.fixture_id,
                str(f.counts.facings),
                str(f.counts.ok),
                str(f.counts.gap),
                str(f.counts.misplaced),
                str(f.counts.not_visible),
                _scores_line(f.scores),
            ]
            for f in report.fixtures
        ],
    )
    for warning in report.registration.warnings:
        lines += _wrapped(f"warning: {warning}", "", "  ")
    return "\n".join(_fit(lines))


def _fit(lines: list[str]) -> list[str]:
    """Every line within ``WIDTH`` columns (a long reason or id is clipped, never wrapped
    into the next column)."""
    return [_clip(line, WIDTH) for line in lines]
