"""The compliance report as readable text: scores, the facings that need attention, products
and fixtures. Pure (no CLI imports), so that the CLI, the analysis pipeline and anything else
that prints a report share one rendering."""

from __future__ import annotations

from shelfscan.compliance.report import ComplianceReport, FacingStatus, Scores


def _pct(value: float | None) -> str:
    return "  n/a" if value is None else f"{value * 100:5.1f}%"


def _scores_line(scores: Scores) -> str:
    return (
        f"position {_pct(scores.position_compliance)}   availability "
        f"{_pct(scores.availability)}   facings {_pct(scores.facings_compliance)}"
    )


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


def render_report_text(report: ComplianceReport, *, all_facings: bool = False) -> str:
    """A readable summary: scores, the facings that need attention, products, fixtures."""
    c = report.counts
    lines = [
        f"Planogram {report.planogram_id} {report.planogram_name}".rstrip()
        + f" — photo {report.image.width}×{report.image.height}px",
        f"Facings {c.facings}: {c.ok} ok, {c.gap} gap, {c.misplaced} misplaced, "
        f"{c.not_visible} not visible; {c.unexpected} unexpected products",
        "Scores   " + _scores_line(report.scores),
        "",
    ]
    shown = [f for f in report.facings if all_facings or f.status is not FacingStatus.OK]
    # A label map turns class names into product ids; show the product's name where known.
    names = {p.product_id: p.product_name for p in report.products}
    title = "All facings" if all_facings else "Facings needing attention"
    lines.append(f"{title} ({len(shown)}):")
    if shown:
        lines += _table(
            ["facing", "fixture", "status", "expected", "found", "box (x,y,w,h)", "reason"],
            [
                [
                    f.facing_id,
                    f.fixture_id,
                    f.status.value,
                    _clip(f.product_name, 32),
                    _clip(names.get(f.found_product_id or "", f.found_label or "-"), 32),
                    f"{f.evidence.box.x:.0f},{f.evidence.box.y:.0f},"
                    f"{f.evidence.box.w:.0f},{f.evidence.box.h:.0f}",
                    f.reason,
                ]
                for f in shown
            ],
        )
    if report.unexpected:
        lines += ["", f"Unexpected products ({len(report.unexpected)}):"]
        lines += _table(
            ["detection", "fixture", "kind", "label", "reason"],
            [
                [u.detection_id, u.fixture_id or "-", u.kind.value, _clip(u.label, 32), u.reason]
                for u in report.unexpected
            ],
        )
    lines += ["", "Products:"]
    lines += _table(
        ["product", "name", "planned", "visible", "found", "in place", "gap", "misplaced"],
        [
            [
                p.product_id,
                _clip(p.product_name, 40),
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
    lines += ["", "Fixtures:"]
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
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
