"""The audit report of one occurrence: what was asked, each bay's scan and scores, the tasks
its scans opened or closed with before/after evidence crops; as HTML and as PDF.

The PDF is written directly (PDF 1.4, the standard Helvetica font, text only, one line per
row, pages as needed): no rendering engine is needed on the server, and the evidence crops,
which the PDF cannot link to without credentials, are listed by reference while the HTML
shows them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.audits.models import AuditOccurrence, AuditOccurrenceScan, AuditSchedule
from shelfscan.audits.occurrences import bay_progress
from shelfscan.audits.tasks import list_tasks
from shelfscan.db import models


@dataclass
class AuditReport:
    title: str
    store: str
    state: str
    window: str
    bays: list[dict[str, Any]]
    tasks: list[dict[str, Any]] = field(default_factory=list)


def _evidence_url(store: str, item: dict[str, Any]) -> str:
    return f"/api/v1/stores/{store}/scans/{item['scan_id']}/evidence/{item['id']}.jpg"


def build_report(session: Session, occurrence: AuditOccurrence) -> AuditReport:
    store = session.get(models.Store, occurrence.store_id)
    schedule = session.get(AuditSchedule, occurrence.schedule_id)
    assert store is not None and schedule is not None
    bays = bay_progress(session, occurrence)
    scans = {
        link.scan_id: session.get(models.Scan, link.scan_id)
        for link in session.scalars(
            select(AuditOccurrenceScan).where(AuditOccurrenceScan.occurrence_id == occurrence.id)
        )
    }
    for bay in bays:
        scan = scans.get(bay["scan_id"]) if bay["scan_id"] else None
        scores = (scan.report or {}).get("scores", {}) if scan else {}
        bay["scores"] = {k: v for k, v in scores.items() if isinstance(v, int | float)}
    tasks = []
    bay_codes = {b.id: b.code for b in session.scalars(select(models.Bay))}
    scan_ids = set(scans)
    for task in list_tasks(session, store_id=store.id):
        if task.occurrence_id != occurrence.id and task.closing_scan_id not in scan_ids:
            continue
        tasks.append(
            {
                "id": task.id,
                "bay": bay_codes.get(task.bay_id),
                "kind": task.kind,
                "text": task.text,
                "state": task.state,
                "due_at": task.due_at.isoformat(timespec="minutes"),
                "closed_by": task.closed_by,
                "close_reason": task.close_reason,
                "before": [_evidence_url(store.code, e) for e in task.evidence.get("before", [])],
                "after": [_evidence_url(store.code, e) for e in task.evidence.get("after", [])],
            }
        )
    return AuditReport(
        title=schedule.name,
        store=store.code,
        state=occurrence.state,
        window=(
            f"{occurrence.local_start.replace('T', ' ')} ({occurrence.time_zone}), due "
            f"{occurrence.due_at.isoformat(timespec='minutes')}"
        ),
        bays=bays,
        tasks=tasks,
    )


def render_html(report: AuditReport) -> str:
    e = html.escape
    bay_rows = "".join(
        f"<tr><td>{e(b['bay'])}</td><td>{e(b['status'])}</td><td>"
        + ", ".join(f"{e(k)} {v:.0%}" for k, v in b["scores"].items())
        + "</td></tr>"
        for b in report.bays
    )
    task_rows = "".join(
        f"<tr><td>{e(str(t['bay']))}</td><td>{e(t['kind'])}</td><td>{e(t['text'])}</td>"
        f"<td>{e(t['state'])}{' — ' + e(t['close_reason']) if t['close_reason'] else ''}</td><td>"
        + "".join(f'<img alt="before" src="{e(u)}">' for u in t["before"])
        + "</td><td>"
        + "".join(f'<img alt="after" src="{e(u)}">' for u in t["after"])
        + "</td></tr>"
        for t in report.tasks
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Audit {e(report.title)} — {e(report.store)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
        "img{max-height:80px;margin:2px}</style></head><body>"
        f"<h1>{e(report.title)} — {e(report.store)}</h1>"
        f"<p>{e(report.window)}. State: <strong>{e(report.state)}</strong></p>"
        "<h2>Bays</h2><table><tr><th>Bay</th><th>Status</th><th>Scores</th></tr>"
        f"{bay_rows}</table>"
        "<h2>Corrective actions</h2><table><tr><th>Bay</th><th>Kind</th><th>Action</th>"
        f"<th>State</th><th>Before</th><th>After</th></tr>{task_rows}</table>"
        "</body></html>"
    )


def _pdf_text(value: str) -> str:
    latin = value.encode("latin-1", "replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def report_lines(report: AuditReport) -> list[tuple[int, str]]:
    """(font size, text) lines of the PDF."""
    lines = [(16, f"{report.title} - {report.store}"), (10, report.window)]
    lines.append((10, f"State: {report.state}"))
    lines.append((13, "Bays"))
    for bay in report.bays:
        scores = ", ".join(f"{k} {v:.0%}" for k, v in bay["scores"].items())
        lines.append((10, f"{bay['bay']}: {bay['status']}  {scores}"))
    lines.append((13, "Corrective actions"))
    for task in report.tasks:
        lines.append((10, f"[{task['state']}] {task['bay']} {task['kind']}: {task['text']}"))
        if task["close_reason"]:
            lines.append((9, f"    closed: {task['close_reason']}"))
        for label in ("before", "after"):
            for url in task[label]:
                lines.append((8, f"    {label}: {url}"))
    return lines


def render_pdf(report: AuditReport) -> bytes:
    page_height, top, bottom, left = 842, 800, 50, 50
    pages: list[list[str]] = [[]]
    y = top
    for size, text in report_lines(report):
        for chunk in [text[i : i + 95] for i in range(0, max(len(text), 1), 95)]:
            if y < bottom:
                pages.append([])
                y = top
            pages[-1].append(f"BT /F1 {size} Tf {left} {y} Td ({_pdf_text(chunk)}) Tj ET")
            y -= size + 6
    objects: list[bytes] = []
    kids = []
    font_id = 3
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # pages, filled in below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in pages:
        stream = "\n".join(page).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 {page_height}] "
                f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {content_id} 0 R >>"
            ).encode()
        )
        kids.append(len(objects))
    objects[1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
