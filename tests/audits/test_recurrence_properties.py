"""Property tests of RRULE evaluation in store time zones: daylight-saving gaps and overlaps,
month ends, and tick windows that split anywhere."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from shelfscan.audits.recurrence import instances_between, to_utc

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "UTC",
]
zones = st.sampled_from(ZONES)
starts = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 1))
hours = st.integers(min_value=0, max_value=23)
minutes = st.sampled_from([0, 15, 30, 45])


def _instances(rule: str, start: date, zone: str, frm: datetime, until: datetime):  # type: ignore[no-untyped-def]
    return instances_between(
        rule,
        start,
        ZoneInfo(zone),
        open_minutes=180,
        missed_after_minutes=60,
        opens_from=frm,
        opens_until=until,
    )


@settings(max_examples=150, deadline=None)
@given(zone=zones, start=starts, hour=hours, minute=minutes, days=st.integers(1, 120))
def test_daily_rule_one_instance_per_local_day_at_its_wall_time(
    zone: str, start: date, hour: int, minute: int, days: int
) -> None:
    tz = ZoneInfo(zone)
    frm = datetime(start.year, start.month, start.day, tzinfo=UTC)
    until = frm + timedelta(days=days)
    found = _instances(f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}", start, zone, frm, until)
    local_days = [i.local_start.date() for i in found]
    assert len(local_days) == len(set(local_days)), "two instances on one local day"
    for instance in found:
        assert frm <= instance.opens_at <= until
        wall = instance.opens_at.astimezone(tz)
        expected = instance.local_start
        if wall.replace(tzinfo=None) != expected:
            # Only a wall time inside a spring-forward gap may move, and only forward by the gap.
            assert to_utc(expected, tz).astimezone(tz).replace(tzinfo=None) != expected
            assert timedelta(0) < wall.replace(tzinfo=None) - expected <= timedelta(hours=1)
        assert instance.due_at > instance.opens_at
        assert instance.missed_at == instance.due_at + timedelta(minutes=60)
    # Every local day between the first and the last has its instance (none skipped by DST).
    if len(local_days) >= 2:
        assert (local_days[-1] - local_days[0]).days + 1 == len(local_days)


@settings(max_examples=150, deadline=None)
@given(
    zone=zones,
    start=starts,
    hour=hours,
    span=st.integers(2, 90),
    cut=st.floats(0.0, 1.0),
)
def test_splitting_the_window_changes_nothing(
    zone: str, start: date, hour: int, span: int, cut: float
) -> None:
    """Two tickers covering halves of a period see exactly what one sees for the whole."""
    rule = f"FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR={hour}"
    frm = datetime(start.year, start.month, start.day, tzinfo=UTC)
    until = frm + timedelta(days=span)
    middle = frm + (until - frm) * cut
    whole = {i.opens_at for i in _instances(rule, start, zone, frm, until)}
    first = {i.opens_at for i in _instances(rule, start, zone, frm, middle)}
    second = {i.opens_at for i in _instances(rule, start, zone, middle, until)}
    assert first | second == whole


@settings(max_examples=100, deadline=None)
@given(zone=zones, start=starts, day=st.integers(28, 31), months=st.integers(1, 24))
def test_month_end_days_exist_only_in_long_enough_months(
    zone: str, start: date, day: int, months: int
) -> None:
    frm = datetime(start.year, start.month, 1, tzinfo=UTC)
    until = frm + timedelta(days=31 * months)
    found = _instances(f"FREQ=MONTHLY;BYMONTHDAY={day};BYHOUR=10", start, zone, frm, until)
    for instance in found:
        assert instance.local_start.day == day
    # The last day of the month, whatever its length, with BYMONTHDAY=-1.
    last = _instances("FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=10", start, zone, frm, until)
    for instance in last:
        local = instance.local_start
        assert local.day == calendar.monthrange(local.year, local.month)[1]
    assert len({(i.local_start.year, i.local_start.month) for i in last}) == len(last)


def test_spring_forward_gap_and_fall_back_overlap_in_berlin() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 29 March 2026 02:30 does not exist in Berlin: read with the offset before the gap.
    gap = to_utc(datetime(2026, 3, 29, 2, 30), berlin)
    assert gap == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert gap.astimezone(berlin).strftime("%H:%M") == "03:30"
    # 25 October 2026 02:30 happens twice: the first (summer time) is taken.
    overlap = to_utc(datetime(2026, 10, 25, 2, 30), berlin)
    assert overlap == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
