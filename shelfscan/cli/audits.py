"""``shelfscan audits …``: audit schedules and the ticker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import typer

from shelfscan.cli.errors import CliError

app = typer.Typer(help="Scheduled store audits: schedules and the ticker.", no_args_is_help=True)
schedule_app = typer.Typer(help="Audit schedules.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def _session() -> Any:
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    return session_scope(url)


def _codes(value: str | None) -> list[str]:
    return [c.strip() for c in (value or "").split(",") if c.strip()]


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--now {value!r} is not an ISO 8601 time, e.g. 2026-12-07T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise CliError(f"--now {value!r} needs a time zone, e.g. 2026-12-07T09:00:00Z")
    return moment.astimezone(UTC)


def _run(work: Any) -> Any:
    from shelfscan.services.errors import ShelfscanError

    try:
        return work()
    except ShelfscanError as error:
        where = f" ({error.field})" if error.field else ""
        raise CliError(f"{error.message}{where}") from None


@schedule_app.command("add")
def add(
    name: str = typer.Argument(..., help="What the audit is, e.g. 'Monday cereal check'."),
    rrule: str = typer.Option(
        ..., help="RFC 5545 RRULE in store time, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"
    ),
    starts_on: str = typer.Option(date.today().isoformat(), help="First day (YYYY-MM-DD)."),
    open_minutes: int = typer.Option(180, help="Opening → due time, minutes."),
    missed_after_minutes: int = typer.Option(1440, help="Due → missed, minutes."),
    notice_minutes: int = typer.Option(1440, help="Listed as upcoming this long before."),
    stores: str | None = typer.Option(None, help="Comma-separated store codes."),
    regions: str | None = typer.Option(None, help="Comma-separated region codes."),
    bays: str | None = typer.Option(None, help="Comma-separated bay codes (default: all)."),
    category: str | None = typer.Option(None, help="Only bays with products of a category."),
) -> None:
    """Create a schedule: chain-wide unless --stores or --regions."""
    from shelfscan.audits.schedules import ScheduleSpec, create_schedule

    if stores and regions:
        raise CliError("give --stores or --regions, not both")
    try:
        first_day = date.fromisoformat(starts_on)
    except ValueError:
        raise CliError(f"--starts-on {starts_on!r} is not a date (YYYY-MM-DD)") from None
    spec = ScheduleSpec(
        name=name,
        rrule=rrule,
        starts_on=first_day,
        open_minutes=open_minutes,
        missed_after_minutes=missed_after_minutes,
        notice_minutes=notice_minutes,
        scope_kind="store" if stores else "region" if regions else "chain",
        scope_codes=_codes(stores or regions),
        bay_selection="list" if bays else "category" if category else "assigned",
        bay_category=category,
        bay_codes=_codes(bays),
    )
    with _session() as session:
        schedule = _run(lambda: create_schedule(session, spec, actor="cli"))
        typer.echo(f"schedule {schedule.id} created: {schedule.name} ({schedule.rrule})")


@schedule_app.command("list")
def list_all() -> None:
    """List schedules: id, state, rule, scope, bays."""
    from shelfscan.audits.schedules import list_schedules

    with _session() as session:
        for s in list_schedules(session):
            scope = s.scope_kind + (
                f":{','.join(s.scope_codes['codes'])}" if s.scope_codes["codes"] else ""
            )
            bays = s.bay_selection + (
                f":{s.bay_category}"
                if s.bay_category
                else f":{','.join(s.bay_codes['codes'])}"
                if s.bay_codes["codes"]
                else ""
            )
            state = "paused" if s.paused else "active"
            typer.echo(f"{s.id}\t{state}\t{s.name}\t{s.rrule}\t{scope}\t{bays}")


@schedule_app.command("pause")
def pause(
    schedule_id: int = typer.Argument(..., help="Schedule id (see 'list')."),
    resume: bool = typer.Option(False, "--resume", help="Resume instead."),
) -> None:
    """Pause a schedule (no new occurrences) or, with --resume, resume it."""
    from shelfscan.audits.schedules import set_paused

    with _session() as session:
        schedule = _run(lambda: set_paused(session, schedule_id, not resume))
        typer.echo(f"schedule {schedule.id} {'paused' if schedule.paused else 'resumed'}")


@app.command("tick")
def tick(
    now: str | None = typer.Option(
        None, help="Act as if it were this time (ISO 8601 with zone), e.g. 2026-12-07T09:00:00Z"
    ),
    send: bool = typer.Option(True, help="Also send due webhook deliveries."),
) -> None:
    """Create due occurrences and move states on (idempotent: run it as often as you like)."""
    from shelfscan.audits.runner import run_once
    from shelfscan.db.migrate import upgrade
    from shelfscan.settings import get_settings

    moment = _parse_now(now)
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    if send:
        result = run_once(settings, moment)
    else:
        from datetime import timedelta

        from shelfscan.audits.occurrences import tick as tick_once
        from shelfscan.db.session import session_factory

        with session_factory(settings.resolved_database_url)() as session:
            result = tick_once(
                session, moment, due_soon=timedelta(minutes=settings.audit_due_soon_minutes)
            )
    moved = ", ".join(f"{k} {v}" for k, v in sorted(result.transitions.items())) or "none"
    typer.echo(
        f"{moment.isoformat()}: {result.created} occurrences created; moved: {moved}; "
        f"{result.events} events"
    )
