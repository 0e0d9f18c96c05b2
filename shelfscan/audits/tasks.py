"""Corrective tasks: every clerk action of a finished scan becomes a task owned by the store.

Actions come from the report's schema-1.2 ``actions`` list; a report without one (older
schema) falls back to one task per facing problem (gap → fill, misplaced → replace) and per
unexpected product (remove). The next conclusive scan of the same bay closes the tasks whose
facings are now right, keeping before/after evidence references; the others stay open and are
not duplicated. A manager may close a task by hand with a reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shelfscan.audits import webhooks
from shelfscan.audits.models import CorrectiveTask
from shelfscan.db import models
from shelfscan.db.base import utcnow
from shelfscan.services.errors import Conflict, Invalid, NotFound
from shelfscan.services.scans import evidence_key

OPEN = "open"
CLOSED = "closed"
_FALLBACK_KIND = {"gap": "fill", "misplaced": "replace"}


def actions_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's actions, or per-facing problems shaped like actions."""
    actions = report.get("actions")
    if isinstance(actions, list):
        return [a for a in actions if isinstance(a, dict)]
    derived: list[dict[str, Any]] = []
    for facing in report.get("facings") or []:
        kind = _FALLBACK_KIND.get(facing.get("status"))
        if kind is None:
            continue
        derived.append(
            {
                "kind": kind,
                "text": facing.get("reason") or f"{kind} {facing.get('product_name')}",
                "product_id": facing.get("product_id"),
                "facing_ids": [facing.get("facing_id")],
                "detection_ids": [],
                "out_of_stock": False,
                "priority": 1 if kind == "fill" else 2,
            }
        )
    for extra in report.get("unexpected") or []:
        derived.append(
            {
                "kind": "remove",
                "text": f"Remove {extra.get('label') or 'the product'}",
                "product_id": extra.get("product_id"),
                "facing_ids": [],
                "detection_ids": [extra.get("detection_id")],
                "out_of_stock": False,
                "priority": 4,
            }
        )
    for number, action in enumerate(derived, start=1):
        action["number"] = number
    return derived


def _facing_status(report: dict[str, Any]) -> dict[str, str]:
    return {f.get("facing_id"): f.get("status") for f in report.get("facings") or []}


def _same_action(task: CorrectiveTask, action: dict[str, Any]) -> bool:
    """The new scan asks for the same thing again (same kind and product, and where the task
    names facings, an overlapping set)."""
    if action.get("kind") != task.kind or action.get("product_id") != task.product_id:
        return False
    mine = set(task.facing_ids.get("ids") or [])
    theirs = set(action.get("facing_ids") or [])
    return not mine or not theirs or bool(mine & theirs)


def still_needed(task: CorrectiveTask, report: dict[str, Any]) -> bool:
    """Whether the task's problem is still visible in ``report`` (a later scan of its bay)."""
    if any(_same_action(task, action) for action in actions_of(report)):
        return True
    statuses = _facing_status(report)
    facings = task.facing_ids.get("ids") or []
    if task.kind == "photograph":
        return any(statuses.get(f) in (None, "not_visible") for f in facings)
    # A facing the new photo does not show cannot prove the fix.
    return any(statuses.get(f) not in ("ok",) for f in facings)


def _evidence(store_code: str, scan_id: str, ids: list[str]) -> list[dict[str, str]]:
    return [{"id": i, "scan_id": scan_id, "key": evidence_key(store_code, scan_id, i)} for i in ids]


def _task_data(task: CorrectiveTask, store_code: str) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "store": store_code,
        "kind": task.kind,
        "text": task.text,
        "product_id": task.product_id,
        "scan_id": task.scan_id,
        "due_at": task.due_at.isoformat(),
        "closed_by": task.closed_by,
        "close_reason": task.close_reason,
    }


def process_scan(
    session: Session,
    scan: models.Scan,
    *,
    now: datetime,
    occurrence_id: int | None,
    due_after: timedelta,
    out_of_stock_due_after: timedelta,
) -> tuple[list[CorrectiveTask], list[CorrectiveTask]]:
    """Close the bay's open tasks this conclusive scan shows fixed, open tasks for its new
    actions. Returns (opened, closed)."""
    report = scan.report or {}
    store = session.get(models.Store, scan.store_id)
    assert store is not None
    open_tasks = list(
        session.scalars(
            select(CorrectiveTask).where(
                CorrectiveTask.bay_id == scan.bay_id,
                CorrectiveTask.state == OPEN,
                CorrectiveTask.scan_id != scan.id,
            )
        )
    )
    closed = []
    for task in open_tasks:
        if still_needed(task, report):
            continue
        task.state = CLOSED
        task.closed_at = now
        task.closed_by = "scan"
        task.closing_scan_id = scan.id
        task.close_reason = "fixed: the re-check shows the facings right"
        ids = list(task.facing_ids.get("ids") or []) or list(task.detection_ids.get("ids") or [])
        after_ids = [i for i in ids if i in _facing_status(report)]
        task.evidence = {
            "before": task.evidence.get("before", []),
            "after": _evidence(store.code, scan.id, after_ids),
        }
        closed.append(task)
    session.flush()
    for task in closed:
        webhooks.emit(session, "task.closed", _task_data(task, store.code), now)

    still_open = [t for t in open_tasks if t.state == OPEN]
    existing_numbers = set(
        session.scalars(select(CorrectiveTask.number).where(CorrectiveTask.scan_id == scan.id))
    )
    opened = []
    for action in actions_of(report):
        number = int(action.get("number") or 0)
        if number in existing_numbers:
            continue  # this scan was processed already (a re-delivered finish)
        if any(_same_action(task, action) for task in still_open):
            continue  # already a task for it: the earlier one stays the one to do
        out_of_stock = bool(action.get("out_of_stock"))
        facing_ids = [i for i in action.get("facing_ids") or [] if i]
        detection_ids = [i for i in action.get("detection_ids") or [] if i]
        task = CorrectiveTask(
            store_id=scan.store_id,
            bay_id=scan.bay_id,
            scan_id=scan.id,
            occurrence_id=occurrence_id,
            number=number,
            kind=str(action.get("kind") or "fix"),
            text=str(action.get("text") or ""),
            product_id=action.get("product_id"),
            facing_ids={"ids": facing_ids},
            detection_ids={"ids": detection_ids},
            out_of_stock=out_of_stock,
            priority=int(action.get("priority") or 0),
            state=OPEN,
            due_at=now + (out_of_stock_due_after if out_of_stock else due_after),
            created_at=now,
            evidence={
                "before": []
                if action.get("kind") == "photograph"
                else _evidence(store.code, scan.id, facing_ids + detection_ids),
                "after": [],
            },
        )
        session.add(task)
        opened.append(task)
    session.flush()
    for task in opened:
        if task.out_of_stock:
            webhooks.emit(session, "stock.critical_out_of_stock", _task_data(task, store.code), now)
    return opened, closed


def close_task(
    session: Session, task_id: int, *, reason: str, by: str, now: datetime | None = None
) -> CorrectiveTask:
    """A manager closes a task by hand; ``reason`` is required."""
    if not reason.strip():
        raise Invalid("invalid_reason", "closing a task by hand needs a reason", field="reason")
    task = get_task(session, task_id)
    if task.state != OPEN:
        raise Conflict("task_closed", f"task {task_id} is already closed", field="task")
    now = now or utcnow()
    task.state = CLOSED
    task.closed_at = now
    task.closed_by = by
    task.close_reason = reason.strip()
    session.flush()
    store = session.get(models.Store, task.store_id)
    webhooks.emit(session, "task.closed", _task_data(task, store.code if store else ""), now)
    return task


def get_task(session: Session, task_id: int) -> CorrectiveTask:
    task = session.get(CorrectiveTask, task_id)
    if task is None:
        raise NotFound("not_found", f"task {task_id} not found")
    return task


def list_tasks(
    session: Session,
    *,
    store_id: int | None = None,
    state: str | None = None,
    occurrence_id: int | None = None,
    bay_id: int | None = None,
    limit: int = 500,
) -> list[CorrectiveTask]:
    query = select(CorrectiveTask).order_by(CorrectiveTask.due_at, CorrectiveTask.priority)
    if store_id is not None:
        query = query.where(CorrectiveTask.store_id == store_id)
    if state is not None:
        query = query.where(CorrectiveTask.state == state)
    if occurrence_id is not None:
        query = query.where(CorrectiveTask.occurrence_id == occurrence_id)
    if bay_id is not None:
        query = query.where(CorrectiveTask.bay_id == bay_id)
    return list(session.scalars(query.limit(limit)))
