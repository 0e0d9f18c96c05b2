"""Scheduled store audits: schedules, the ticker, occurrences and today's checklist,
corrective tasks, webhooks and their delivery log, reports and KPIs; plus the admin page.

Store data passes the one scope filter (``shelfscan.auth.scope``): store-scoped paths are
checked by the app-wide ``authorize`` dependency, lists across stores through
:func:`visible_stores`. Permissions per route: :data:`AUDIT_ROUTE_PERMISSIONS`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select

from shelfscan.api.deps import DbSession
from shelfscan.audits import occurrences as occ
from shelfscan.audits import report as audit_report
from shelfscan.audits import schedules as sched
from shelfscan.audits import tasks as task_service
from shelfscan.audits import webhooks
from shelfscan.audits.kpis import audit_kpis
from shelfscan.audits.models import (
    AuditOccurrence,
    AuditSchedule,
    CorrectiveTask,
    WebhookDelivery,
    WebhookEndpoint,
)
from shelfscan.auth.roles import Permission as P
from shelfscan.db import models
from shelfscan.services.errors import NotFound
from shelfscan.services.stores import get_store

router = APIRouter(tags=["audits"])

AUDITS = "/api/v1/audits"
STORE_AUDITS = "/api/v1/stores/{store_code}/audits"

# Merged into shelfscan.api.security.ROUTE_PERMISSIONS. Planning audits and webhooks is head
# office's (stores:write: admins); the checklist and reports are read with the store's scans;
# closing a task by hand is a manager's (bays:write).
AUDIT_ROUTE_PERMISSIONS: dict[tuple[str, str], Any] = {
    ("POST", f"{AUDITS}/schedules"): P.STORES_WRITE,
    ("GET", f"{AUDITS}/schedules"): P.STORES_READ,
    ("GET", f"{AUDITS}/schedules/{{schedule_id}}"): P.STORES_READ,
    ("POST", f"{AUDITS}/schedules/{{schedule_id}}/pause"): P.STORES_WRITE,
    ("POST", f"{AUDITS}/schedules/{{schedule_id}}/resume"): P.STORES_WRITE,
    ("POST", f"{AUDITS}/tick"): P.STORES_WRITE,
    ("GET", f"{AUDITS}/occurrences"): P.SCANS_READ,
    ("GET", f"{AUDITS}/tasks"): P.SCANS_READ,
    ("GET", f"{AUDITS}/kpis"): P.SCANS_READ,
    ("POST", f"{AUDITS}/webhooks"): P.STORES_WRITE,
    ("GET", f"{AUDITS}/webhooks"): P.STORES_WRITE,
    ("POST", f"{AUDITS}/webhooks/{{endpoint_id}}/rotate"): P.STORES_WRITE,
    ("GET", f"{AUDITS}/webhooks/{{endpoint_id}}/deliveries"): P.STORES_WRITE,
    ("GET", f"{AUDITS}/deliveries"): P.STORES_WRITE,
    ("GET", f"{STORE_AUDITS}/checklist"): P.SCANS_READ,
    ("GET", f"{STORE_AUDITS}/occurrences/{{occurrence_id}}"): P.SCANS_READ,
    ("POST", f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/scans"): P.SCANS_WRITE,
    ("GET", f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/report.html"): P.SCANS_READ,
    ("GET", f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/report.pdf"): P.SCANS_READ,
    ("GET", f"{STORE_AUDITS}/tasks"): P.SCANS_READ,
    ("POST", f"{STORE_AUDITS}/tasks/{{task_id}}/close"): P.BAYS_WRITE,
}


def visible_stores(request: Request, permission: P = P.SCANS_READ) -> Select[tuple[int]] | None:
    """The seam to the scope filter: a sub-select of the caller's store ids, or None when no
    principal is attached (apps built without access control, e.g. some tests)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    from shelfscan.auth.scope import visible_store_ids

    return visible_store_ids(principal, permission)


def _actor(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.actor if principal is not None else "anonymous"


# --- schemas -----------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    rrule: str = Field(
        min_length=1, max_length=500, examples=["FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"]
    )
    starts_on: date
    open_minutes: int = Field(default=180, description="Opening → due time")
    missed_after_minutes: int = Field(default=1440, description="Due → missed")
    notice_minutes: int = Field(default=1440, description="Listed as upcoming this long before")
    scope_kind: str = Field(default="chain", description="chain, region or store")
    scope_codes: list[str] = Field(default_factory=list, max_length=1000)
    bay_selection: str = Field(default="assigned", description="assigned, category or list")
    bay_category: str | None = None
    bay_codes: list[str] = Field(default_factory=list, max_length=1000)


class ScheduleOut(_Out):
    id: int
    name: str
    rrule: str
    starts_on: str
    open_minutes: int
    missed_after_minutes: int
    notice_minutes: int
    scope_kind: str
    scope_codes: list[str]
    bay_selection: str
    bay_category: str | None
    bay_codes: list[str]
    paused: bool
    created_at: datetime


def _schedule_out(s: AuditSchedule) -> ScheduleOut:
    return ScheduleOut(
        **{
            k: getattr(s, k)
            for k in ScheduleOut.model_fields
            if k not in {"scope_codes", "bay_codes"}
        },
        scope_codes=s.scope_codes.get("codes", []),
        bay_codes=s.bay_codes.get("codes", []),
    )


class TickOut(BaseModel):
    now: datetime
    created: int
    transitions: dict[str, int]
    events: int


class BayProgressOut(BaseModel):
    bay: str
    name: str | None
    status: str = Field(description="to_photograph, processing, retake or done")
    scan_id: str | None


class OccurrenceOut(BaseModel):
    id: int
    schedule_id: int
    schedule: str
    store: str
    state: str
    local_start: str
    time_zone: str
    opens_at: datetime
    due_at: datetime
    missed_at: datetime
    completed_at: datetime | None
    bays: list[BayProgressOut]
    report_url: str


class ChecklistOut(BaseModel):
    store: str
    now: datetime
    occurrences: list[OccurrenceOut]
    open_tasks: int


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scan_id: str = Field(min_length=1, max_length=36)


class TaskOut(BaseModel):
    id: int
    store: str
    bay: str | None
    scan_id: str
    occurrence_id: int | None
    kind: str
    text: str
    product_id: str | None
    facing_ids: list[str]
    out_of_stock: bool
    priority: int
    state: str
    due_at: datetime
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None
    evidence: dict[str, list[dict[str, str]]]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    description: str = Field(default="", max_length=255)
    event_types: list[str] = Field(default_factory=list, description="Empty: every event")
    secrets: list[str] | None = Field(default=None, description="Default: one is generated")


class WebhookOut(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    secrets: list[str] | None = Field(default=None, description="Only when created or rotated")


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[dict[str, Any]]
    payload: dict[str, Any]


class KpisOut(BaseModel):
    occurrences_due: int
    occurrences_done: int
    occurrences_on_time: int
    completion_rate: float | None
    on_time_rate: float | None
    tasks_rechecked: int
    tasks_fixed_by_recheck: int
    recheck_pass_rate: float | None
    median_time_to_fix_s: float | None


# --- helpers -------------------------------------------------------------------------------


def _occurrence_out(session: DbSession, o: AuditOccurrence) -> OccurrenceOut:
    store = session.get(models.Store, o.store_id)
    schedule = session.get(AuditSchedule, o.schedule_id)
    code = store.code if store else ""
    return OccurrenceOut(
        id=o.id,
        schedule_id=o.schedule_id,
        schedule=schedule.name if schedule else "",
        store=code,
        state=o.state,
        local_start=o.local_start,
        time_zone=o.time_zone,
        opens_at=o.opens_at,
        due_at=o.due_at,
        missed_at=o.missed_at,
        completed_at=o.completed_at,
        bays=[BayProgressOut(**b) for b in occ.bay_progress(session, o)],
        report_url=f"/api/v1/stores/{code}/audits/occurrences/{o.id}/report.html",
    )


def _task_out(session: DbSession, t: CorrectiveTask) -> TaskOut:
    store = session.get(models.Store, t.store_id)
    bay = session.get(models.Bay, t.bay_id)
    return TaskOut(
        id=t.id,
        store=store.code if store else "",
        bay=bay.code if bay else None,
        scan_id=t.scan_id,
        occurrence_id=t.occurrence_id,
        kind=t.kind,
        text=t.text,
        product_id=t.product_id,
        facing_ids=t.facing_ids.get("ids", []),
        out_of_stock=t.out_of_stock,
        priority=t.priority,
        state=t.state,
        due_at=t.due_at,
        created_at=t.created_at,
        closed_at=t.closed_at,
        closed_by=t.closed_by,
        close_reason=t.close_reason,
        evidence=t.evidence,
    )


def _webhook_out(e: WebhookEndpoint, show_secrets: bool = False) -> WebhookOut:
    return WebhookOut(
        id=e.id,
        url=e.url,
        description=e.description,
        event_types=e.event_types.get("types", []),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        secrets=e.secrets["secrets"] if show_secrets else None,
    )


def _delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        **{k: getattr(d, k) for k in DeliveryOut.model_fields if k != "log"},
        log=d.log.get("attempts", []),
    )


def _store_occurrence(session: DbSession, store_code: str, occurrence_id: int) -> AuditOccurrence:
    store = get_store(session, store_code)
    occurrence = session.get(AuditOccurrence, occurrence_id)
    if occurrence is None or occurrence.store_id != store.id:
        raise NotFound("not_found", f"audit occurrence {occurrence_id} not found in {store_code}")
    return occurrence


# --- schedules and the ticker --------------------------------------------------------------


@router.post(f"{AUDITS}/schedules", status_code=201, response_model=ScheduleOut)
def create_schedule(body: ScheduleIn, request: Request, session: DbSession) -> ScheduleOut:
    spec = sched.ScheduleSpec(**body.model_dump())
    return _schedule_out(sched.create_schedule(session, spec, actor=_actor(request)))


@router.get(f"{AUDITS}/schedules", response_model=list[ScheduleOut])
def list_schedules(session: DbSession) -> list[ScheduleOut]:
    return [_schedule_out(s) for s in sched.list_schedules(session)]


@router.get(f"{AUDITS}/schedules/{{schedule_id}}", response_model=ScheduleOut)
def get_schedule(schedule_id: int, session: DbSession) -> ScheduleOut:
    return _schedule_out(sched.get_schedule(session, schedule_id))


@router.post(f"{AUDITS}/schedules/{{schedule_id}}/pause", response_model=ScheduleOut)
def pause_schedule(schedule_id: int, session: DbSession) -> ScheduleOut:
    return _schedule_out(sched.set_paused(session, schedule_id, True))


@router.post(f"{AUDITS}/schedules/{{schedule_id}}/resume", response_model=ScheduleOut)
def resume_schedule(schedule_id: int, session: DbSession) -> ScheduleOut:
    return _schedule_out(sched.set_paused(session, schedule_id, False))


@router.post(f"{AUDITS}/tick", response_model=TickOut, summary="Run the audit ticker once")
def tick_now(
    request: Request,
    session: DbSession,
    now: datetime | None = Query(default=None, description="Simulated time (ISO 8601)"),
) -> TickOut:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    settings = request.app.state.settings
    result = occ.tick(session, moment, due_soon=timedelta(minutes=settings.audit_due_soon_minutes))
    return TickOut(
        now=moment, created=result.created, transitions=result.transitions, events=result.events
    )


@router.get(f"{AUDITS}/occurrences", response_model=list[OccurrenceOut])
def list_occurrences(
    request: Request,
    session: DbSession,
    store: str | None = None,
    state: list[str] | None = Query(default=None),
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[OccurrenceOut]:
    store_id = get_store(session, store).id if store else None
    rows = occ.list_occurrences(
        session, store_id=store_id, store_ids=visible_stores(request), states=state, limit=limit
    )
    return [_occurrence_out(session, r) for r in rows]


# --- the store's side ----------------------------------------------------------------------


@router.get(f"{STORE_AUDITS}/checklist", response_model=ChecklistOut, summary="Today's checklist")
def checklist(
    store_code: str,
    session: DbSession,
    now: datetime | None = Query(default=None, description="Default: now"),
) -> ChecklistOut:
    """The store's audits to do now (open, in progress, overdue) and those done today, each
    with its bays: to photograph, processing, retake or done."""
    store = get_store(session, store_code)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    active = occ.list_occurrences(
        session, store_id=store.id, states=[s.value for s in occ.ACTIVE_STATES]
    )
    recent_done = [
        o
        for o in occ.list_occurrences(session, store_id=store.id, states=["done"])
        if o.completed_at and o.completed_at >= moment - timedelta(hours=24)
    ]
    rows = sorted([o for o in active if o.opens_at <= moment] + recent_done, key=lambda o: o.due_at)
    open_tasks = len(task_service.list_tasks(session, store_id=store.id, state="open"))
    return ChecklistOut(
        store=store.code,
        now=moment,
        occurrences=[_occurrence_out(session, o) for o in rows],
        open_tasks=open_tasks,
    )


@router.get(f"{STORE_AUDITS}/occurrences/{{occurrence_id}}", response_model=OccurrenceOut)
def get_occurrence(store_code: str, occurrence_id: int, session: DbSession) -> OccurrenceOut:
    return _occurrence_out(session, _store_occurrence(session, store_code, occurrence_id))


@router.post(
    f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/scans",
    response_model=OccurrenceOut,
    summary="Count a scan towards an audit (taken from the checklist)",
)
def link_scan(
    store_code: str, occurrence_id: int, body: LinkIn, session: DbSession
) -> OccurrenceOut:
    occurrence = _store_occurrence(session, store_code, occurrence_id)
    scan = session.get(models.Scan, body.scan_id)
    if scan is None or scan.store_id != occurrence.store_id:
        raise NotFound("not_found", f"scan {body.scan_id!r} not found", field="scan_id")
    occ.link_scan(session, occurrence, scan)
    session.refresh(occurrence)
    return _occurrence_out(session, occurrence)


@router.get(
    f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/report.html",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
def report_html(store_code: str, occurrence_id: int, session: DbSession) -> HTMLResponse:
    occurrence = _store_occurrence(session, store_code, occurrence_id)
    built = audit_report.build_report(session, occurrence)
    return HTMLResponse(audit_report.render_html(built))


@router.get(
    f"{STORE_AUDITS}/occurrences/{{occurrence_id}}/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def report_pdf(store_code: str, occurrence_id: int, session: DbSession) -> Response:
    occurrence = _store_occurrence(session, store_code, occurrence_id)
    built = audit_report.build_report(session, occurrence)
    return Response(
        audit_report.render_pdf(built),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{store_code}-{occurrence_id}.pdf"'
        },
    )


@router.get(f"{STORE_AUDITS}/tasks", response_model=list[TaskOut])
def store_tasks(store_code: str, session: DbSession, state: str | None = None) -> list[TaskOut]:
    store = get_store(session, store_code)
    return [
        _task_out(session, t)
        for t in task_service.list_tasks(session, store_id=store.id, state=state)
    ]


@router.post(f"{STORE_AUDITS}/tasks/{{task_id}}/close", response_model=TaskOut)
def close_task(
    store_code: str, task_id: int, body: CloseIn, request: Request, session: DbSession
) -> TaskOut:
    store = get_store(session, store_code)
    task = task_service.get_task(session, task_id)
    if task.store_id != store.id:
        raise NotFound("not_found", f"task {task_id} not found in {store_code}")
    closed = task_service.close_task(session, task_id, reason=body.reason, by=_actor(request))
    return _task_out(session, closed)


@router.get(f"{AUDITS}/tasks", response_model=list[TaskOut])
def all_tasks(request: Request, session: DbSession, state: str | None = None) -> list[TaskOut]:
    query = select(CorrectiveTask).order_by(CorrectiveTask.due_at).limit(1000)
    if state:
        query = query.where(CorrectiveTask.state == state)
    allowed = visible_stores(request)
    if allowed is not None:
        query = query.where(CorrectiveTask.store_id.in_(allowed))
    return [_task_out(session, t) for t in session.scalars(query)]


@router.get(f"{AUDITS}/kpis", response_model=KpisOut, summary="Audit KPIs for dashboards")
def kpis(
    request: Request,
    session: DbSession,
    since: datetime | None = None,
    until: datetime | None = None,
) -> KpisOut:
    result = audit_kpis(session, store_ids=visible_stores(request), since=since, until=until)
    return KpisOut(**result.as_dict())


# --- webhooks ------------------------------------------------------------------------------


@router.post(f"{AUDITS}/webhooks", status_code=201, response_model=WebhookOut)
def create_webhook(body: WebhookIn, request: Request, session: DbSession) -> WebhookOut:
    endpoint = webhooks.create_endpoint(
        session,
        body.url,
        allow_private=request.app.state.settings.webhook_allow_private,
        secrets=body.secrets,
        event_types=body.event_types,
        description=body.description,
    )
    return _webhook_out(endpoint, show_secrets=True)


@router.get(f"{AUDITS}/webhooks", response_model=list[WebhookOut])
def list_webhooks(session: DbSession) -> list[WebhookOut]:
    return [_webhook_out(e) for e in webhooks.list_endpoints(session)]


@router.post(f"{AUDITS}/webhooks/{{endpoint_id}}/rotate", response_model=WebhookOut)
def rotate_webhook_secret(endpoint_id: int, session: DbSession) -> WebhookOut:
    endpoint = webhooks.get_endpoint(session, endpoint_id)
    webhooks.rotate_secret(session, endpoint)
    return _webhook_out(endpoint, show_secrets=True)


@router.get(f"{AUDITS}/webhooks/{{endpoint_id}}/deliveries", response_model=list[DeliveryOut])
def endpoint_deliveries(endpoint_id: int, session: DbSession) -> list[DeliveryOut]:
    webhooks.get_endpoint(session, endpoint_id)
    return [_delivery_out(d) for d in webhooks.list_deliveries(session, endpoint_id=endpoint_id)]


@router.get(f"{AUDITS}/deliveries", response_model=list[DeliveryOut], summary="Delivery log")
def deliveries(
    session: DbSession,
    state: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[DeliveryOut]:
    return [_delivery_out(d) for d in webhooks.list_deliveries(session, state=state, limit=limit)]
