"""RRULE evaluation in a store's IANA time zone (pure: no database).

The rule runs on local wall-clock times (what "every Monday 9:00" means to a store); each
instance is then placed on the UTC time line with :mod:`zoneinfo`. A wall time that does not
exist (spring forward, 02:30) is read with the offset before the gap, as RFC 5545 §3.3.5
prescribes (so 02:30 becomes 03:30 summer time); an ambiguous one (fall back) is the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from shelfscan.services.errors import Invalid

# Rules that would produce instances more often than this are refused: an audit every minute
# is a typo, and it would flood the occurrence table.
MIN_INTERVAL = timedelta(hours=1)
_FORBIDDEN_PARTS = ("DTSTART", "TZID", "BYSECOND", "BYSETPOS=-")


@dataclass(frozen=True)
class Instance:
    local_start: datetime  # naive, the store's wall clock
    opens_at: datetime  # aware UTC
    due_at: datetime
    missed_at: datetime


def check_rrule(rule: str, starts_on: date) -> str:
    """``rule`` normalised (no ``RRULE:`` prefix, upper case) when it parses and is not too
    frequent; else :class:`Invalid` naming the field."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    text = text.upper()
    if not text or "\n" in text:
        raise Invalid("invalid_rrule", "rrule must be one RRULE line", field="rrule")
    for part in _FORBIDDEN_PARTS:
        if part in text:
            raise Invalid(
                "invalid_rrule",
                f"rrule must not contain {part.rstrip('=-')}: the start is 'starts_on' and the "
                "time zone is the store's",
                field="rrule",
            )
    freq = dict(p.split("=", 1) for p in text.split(";") if "=" in p).get("FREQ")
    if freq in {"SECONDLY", "MINUTELY"}:
        raise Invalid("invalid_rrule", f"FREQ={freq} is too frequent for audits", field="rrule")
    try:
        first = list(_rule(text, starts_on).xafter(_midnight(starts_on), count=3, inc=True))
    except (ValueError, TypeError) as error:
        raise Invalid("invalid_rrule", f"rrule does not parse: {error}", field="rrule") from None
    for earlier, later in pairwise(first):
        if later - earlier < MIN_INTERVAL:
            raise Invalid(
                "invalid_rrule", "rrule repeats more often than once an hour", field="rrule"
            )
    return text


def check_time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "invalid_time_zone", f"unknown IANA time zone {name!r}", field="time_zone"
        ) from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _rule(text: str, starts_on: date):  # type: ignore[no-untyped-def]
    return rrulestr(text, dtstart=_midnight(starts_on))


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in ``zone`` on the UTC line (gap: offset before it; overlap: first)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def instances_between(
    rule: str,
    starts_on: date,
    zone: ZoneInfo,
    *,
    open_minutes: int,
    missed_after_minutes: int,
    opens_from: datetime,
    opens_until: datetime,
) -> list[Instance]:
    """Every instance whose opening (UTC) lies in ``[opens_from, opens_until]``."""
    # Search a little wider in wall-clock terms (offsets are at most ±14 h, a gap 1–2 h) and
    # filter on the UTC line, which is the one that counts.
    slack = timedelta(hours=16)
    local_from = opens_from.astimezone(zone).replace(tzinfo=None) - slack
    local_until = opens_until.astimezone(zone).replace(tzinfo=None) + slack
    result = []
    for local in _rule(rule, starts_on).between(local_from, local_until, inc=True):
        opens_at = to_utc(local, zone)
        if not opens_from <= opens_at <= opens_until:
            continue
        # The due time is a wall time too ("9:00–12:00" stays 12:00 across a change).
        due_at = to_utc(local + timedelta(minutes=open_minutes), zone)
        result.append(
            Instance(
                local_start=local,
                opens_at=opens_at,
                due_at=due_at,
                missed_at=due_at + timedelta(minutes=missed_after_minutes),
            )
        )
    return result
