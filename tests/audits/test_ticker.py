"""The ticker over a simulated month: exactly the expected occurrences, whatever the number of
tickers running at once, across daylight-saving changes; states move on time."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from shelfscan.audits.models import AuditOccurrence, WebhookDelivery
from shelfscan.audits.occurrences import OccurrenceState, tick
from shelfscan.audits.schedules import ScheduleSpec, create_schedule
from shelfscan.audits.webhooks import create_endpoint
from shelfscan.db.models import Store
from shelfscan.db.session import session_factory, session_scope
from tests.audits.conftest import STORES, report, take_scan

WEEKLY_MONDAY_9 = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 11, 4, tzinfo=UTC)
STEP = timedelta(hours=6)


def weekly_schedule(url: str, **overrides: object) -> int:
    spec = ScheduleSpec(
        name="Monday cereal check",
        rrule=WEEKLY_MONDAY_9,
        starts_on=date(2026, 9, 1),
        open_minutes=180,  # 9:00–12:00
        missed_after_minutes=24 * 60,
        notice_minutes=24 * 60,
        scope_kind="store",
        scope_codes=list(STORES),
    )
    for name, value in overrides.items():
        setattr(spec, name, value)
    with session_scope(url) as session:
        return create_schedule(session, spec).id


def expected_openings(zone: str, first_tick: datetime, last_tick: datetime) -> set[datetime]:
    """Mondays 9:00 local, computed day by day (independently of dateutil), created once their
    opening is within a day of a tick (the notice) and no older than the catch-up week."""
    tz = ZoneInfo(zone)
    found = set()
    day = (first_tick - timedelta(days=8)).date()
    while day <= (last_tick + timedelta(days=2)).date():
        if day.weekday() == 0:
            opens = datetime(day.year, day.month, day.day, 9, tzinfo=tz).astimezone(UTC)
            if first_tick - timedelta(days=7) <= opens <= last_tick + timedelta(days=1):
                found.add(opens)
        day += timedelta(days=1)
    return found


def run_tickers(url: str, times: list[datetime], tickers: int) -> int:
    """At each simulated time, ``tickers`` threads tick at once (a barrier lines them up).
    Returns how many occurrences the tickers said they created, all together."""
    factory = session_factory(url)
    errors: list[BaseException] = []
    created: list[int] = []

    def worker(barrier: threading.Barrier, now: datetime) -> None:
        try:
            barrier.wait()
            with factory() as session:
                created.append(tick(session, now).created)
        except BaseException as error:
            errors.append(error)

    for now in times:
        barrier = threading.Barrier(tickers)
        threads = [threading.Thread(target=worker, args=(barrier, now)) for _ in range(tickers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
    return sum(created)


def simulated_month() -> list[datetime]:
    times, now = [], MONTH_START
    while now <= MONTH_END:
        times.append(now)
        now += STEP
    return times


def test_month_across_dst_creates_each_occurrence_once_with_four_tickers(demo_url: str) -> None:
    weekly_schedule(demo_url)
    with session_scope(demo_url) as session:
        create_endpoint(session, "http://127.0.0.1:9/hook", allow_private=True)
    times = simulated_month()
    created = run_tickers(demo_url, times, tickers=4)

    with session_scope(demo_url) as session:
        stores = {s.id: s.code for s in session.scalars(select(Store))}
        rows = list(session.scalars(select(AuditOccurrence)))
        events = Counter(session.scalars(select(WebhookDelivery.event_type)))
    by_store: dict[str, set[datetime]] = {code: set() for code in STORES}
    for row in rows:
        by_store[stores[row.store_id]].add(row.opens_at)
    assert len(rows) == sum(len(v) for v in by_store.values()), "duplicate occurrences"
    # Each ticker counts only the rows it inserted (PostgreSQL's row count after the implicit
    # RETURNING is -1, so counting it would report 0): together, exactly the rows there are.
    assert created == len(rows)
    for code, (_region, zone) in STORES.items():
        assert by_store[code] == expected_openings(zone, times[0], times[-1]), code
    # The wall clock stays 9:00 across each store's change: the UTC opening moves by an hour.
    berlin = sorted(by_store["DEMO-001"])
    assert {t.astimezone(ZoneInfo("Europe/Berlin")).hour for t in berlin} == {9}
    assert {t.hour for t in berlin} == {7, 8}  # summer (UTC+2) then winter (UTC+1)
    sydney = sorted(by_store["DEMO-003"])
    assert {t.hour for t in sydney} == {22, 23}
    # Unscanned: every past one went open → overdue → missed; one event per transition.
    final = Counter(row.state for row in rows)
    missed = sum(1 for row in rows if row.missed_at <= times[-1])
    assert final[OccurrenceState.MISSED] == missed > 0
    assert events["occurrence.missed"] == missed
    assert events["occurrence.opened"] == sum(1 for row in rows if row.opens_at <= times[-1])
    assert events["occurrence.overdue"] == sum(1 for row in rows if row.due_at <= times[-1])


def test_due_time_is_a_wall_time_and_windows_follow_the_rule(demo_url: str) -> None:
    weekly_schedule(demo_url)
    with session_factory(demo_url)() as session:
        tick(session, datetime(2026, 10, 26, 5, tzinfo=UTC))  # after Berlin's change
        berlin = session.scalars(
            select(AuditOccurrence).where(AuditOccurrence.time_zone == "Europe/Berlin")
        ).all()
    latest = max(berlin, key=lambda o: o.opens_at)
    local = ZoneInfo("Europe/Berlin")
    assert latest.opens_at.astimezone(local).strftime("%a %H:%M") == "Mon 09:00"
    assert latest.due_at.astimezone(local).strftime("%H:%M") == "12:00"
    assert latest.local_start == "2026-10-26T09:00:00"


def test_scans_complete_an_occurrence_and_an_unscanned_one_goes_overdue_then_missed(
    demo_url: str,
) -> None:
    weekly_schedule(demo_url)
    monday = datetime(2026, 10, 19, tzinfo=ZoneInfo("Europe/Berlin"))
    opened = (monday + timedelta(hours=9, minutes=5)).astimezone(UTC)
    factory = session_factory(demo_url)
    with factory() as session:
        tick(session, opened)
        states = {
            o.time_zone: o.state
            for o in session.scalars(
                select(AuditOccurrence).where(AuditOccurrence.opens_at <= opened)
            )
            if o.opens_at > opened - timedelta(hours=1)
        }
    assert states == {"Europe/Berlin": OccurrenceState.OPEN}

    # DEMO-001 photographs both bays from the checklist; the first photo is of the wrong bay.
    taken = opened + timedelta(minutes=10)
    take_scan(demo_url, "DEMO-001", "A01", taken, report(conclusive=False))
    with factory() as session:
        occurrence = session.scalars(
            select(AuditOccurrence)
            .where(AuditOccurrence.time_zone == "Europe/Berlin", AuditOccurrence.opens_at <= opened)
            .order_by(AuditOccurrence.opens_at.desc())
        ).first()
        assert occurrence is not None
        assert occurrence.state == OccurrenceState.IN_PROGRESS
        occurrence_id = occurrence.id
    take_scan(demo_url, "DEMO-001", "A01", taken + timedelta(minutes=1), report())
    with factory() as session:
        assert session.get(AuditOccurrence, occurrence_id).state == OccurrenceState.IN_PROGRESS
    take_scan(demo_url, "DEMO-001", "A02", taken + timedelta(minutes=2), report())
    with factory() as session:
        done = session.get(AuditOccurrence, occurrence_id)
        assert done.state == OccurrenceState.DONE
        assert done.completed_at == taken + timedelta(minutes=2)

    # DEMO-002 (New York) opens later the same day and nobody scans.
    new_york = datetime(2026, 10, 19, 9, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    with factory() as session:
        tick(session, new_york + timedelta(hours=3, minutes=1))
        ny = session.scalars(
            select(AuditOccurrence).where(
                AuditOccurrence.time_zone == "America/New_York",
                AuditOccurrence.opens_at == new_york,
            )
        ).one()
        assert ny.state == OccurrenceState.OVERDUE
        tick(session, new_york + timedelta(hours=3 + 24, minutes=1))
        session.refresh(ny)
        assert ny.state == OccurrenceState.MISSED
        # The done one stays done.
        assert session.get(AuditOccurrence, occurrence_id).state == OccurrenceState.DONE


def test_paused_schedule_creates_nothing_new(demo_url: str) -> None:
    from shelfscan.audits.schedules import set_paused

    schedule_id = weekly_schedule(demo_url)
    with session_scope(demo_url) as session:
        set_paused(session, schedule_id, True)
    with session_factory(demo_url)() as session:
        result = tick(session, datetime(2026, 10, 19, 6, tzinfo=UTC))
        assert result.created == 0


def test_bay_selection_list_and_category(demo_url: str) -> None:
    weekly_schedule(demo_url, name="list", bay_selection="list", bay_codes=["A02", "NOPE"])
    weekly_schedule(demo_url, name="snacks", bay_selection="category", bay_category="Snacks")
    weekly_schedule(demo_url, name="cereal", bay_selection="category", bay_category="Cereal")
    with session_factory(demo_url)() as session:
        tick(session, datetime(2026, 10, 19, 6, tzinfo=UTC))
        rows = session.scalars(select(AuditOccurrence)).all()
        from shelfscan.audits.models import AuditSchedule
        from shelfscan.db.models import Bay

        names = {s.id: s.name for s in session.scalars(select(AuditSchedule))}
        codes = {b.id: b.code for b in session.scalars(select(Bay))}
    bays_by_schedule = {
        names[r.schedule_id]: sorted(codes[i] for i in r.bay_ids["ids"]) for r in rows
    }
    assert bays_by_schedule == {"list": ["A02"], "cereal": ["A01", "A02"]}  # no snacks bay


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("FREQ=MINUTELY", "rrule"),
        ("FREQ=HOURLY;INTERVAL=0", "rrule"),
        ("FREQ=WEEKLY;DTSTART=20260101T000000", "rrule"),
        ("NOT A RULE", "rrule"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(demo_url: str, rule: str, field: str) -> None:
    from shelfscan.services.errors import Invalid

    with pytest.raises(Invalid) as refused:
        weekly_schedule(demo_url, rrule=rule)
    assert refused.value.field == field
