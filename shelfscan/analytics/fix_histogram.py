"""Time to fix from a histogram: median and p90 of fix durations read from bucket counts.

Exact percentiles need every fixed problem's duration, sorted: at a chain's scale (a million
problems fixed in four weeks) that is over a second of database time. The daily fix histogram
(:class:`shelfscan.analytics.models.DailyFix`) instead keeps, per UTC day, region and
duration bucket, how many problems were fixed and the sum and sum of squares of their hours,
so that chain- and region-level figures add up a few thousand rows.

Buckets grow geometrically (each 2 % wider than the one before, from one minute), so an
estimate inside the right bucket is within 2 % of the exact value (within a minute below one
minute). Inside a bucket the value is exact when the bucket holds one problem or problems of
equal durations (zero variance: scans at fixed times of day give such durations); otherwise
the ranks are spread evenly over the bucket. Pure: no database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GROWTH = 1.02  # each bucket's upper edge ÷ its lower edge
OPENED = -1  # the bucket of a day's "problems opened" count (still open = opened - fixed)
RELATIVE_ERROR = GROWTH - 1.0
ABSOLUTE_ERROR_HOURS = 1.0 / 60.0  # bucket 0 holds everything under a minute

_LOG_GROWTH = math.log(GROWTH)


def fix_bucket(hours: float) -> int:
    """The histogram bucket of a duration: 0 below one minute, then 2 %-wide buckets."""
    minutes = hours * 60.0
    if minutes < 1.0:
        return 0
    return 1 + math.floor(math.log(minutes) / _LOG_GROWTH)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """A bucket's duration range in hours, ``[low, high)``."""
    if bucket <= 0:
        return 0.0, 1.0 / 60.0
    return GROWTH ** (bucket - 1) / 60.0, GROWTH**bucket / 60.0


@dataclass
class Bucket:
    problems: int = 0
    hours_sum: float = 0.0
    hours_sq: float = 0.0

    def value_at(self, rank: int, bucket: int) -> float:
        """The estimated duration of the ``rank``-th (0-based) problem inside the bucket."""
        low, high = bucket_bounds(bucket)
        mean = self.hours_sum / self.problems
        variance = self.hours_sq / self.problems - mean * mean
        if self.problems == 1 or variance <= 1e-9 * max(mean * mean, 1e-12):
            return min(max(mean, low), high)  # every problem in it took the same time
        return low + (rank + 0.5) / self.problems * (high - low)


def quantile(buckets: Mapping[int, Bucket], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation between the two nearest ranks (numpy's
    and pandas' default), each rank's value estimated from its bucket."""
    ordered = sorted((b, v) for b, v in buckets.items() if b >= 0 and v.problems > 0)
    total = sum(v.problems for _, v in ordered)
    if total == 0:
        return None
    position = (total - 1) * q
    low_rank = math.floor(position)
    fraction = position - low_rank
    wanted = [low_rank] + ([low_rank + 1] if fraction > 0 else [])
    values: dict[int, float] = {}
    start = 0
    for bucket, content in ordered:
        for rank in wanted:
            if start <= rank < start + content.problems:
                values[rank] = content.value_at(rank - start, bucket)
        start += content.problems
    low_value = values[low_rank]
    if fraction == 0:
        return low_value
    return low_value + fraction * (values[low_rank + 1] - low_value)


Key = tuple[object, str, int]  # (UTC day, region or '', bucket)


def add_opened(out: dict[Key, Bucket], region: str | None, day: object, sign: int = 1) -> None:
    """A problem opened on ``day`` (``sign`` -1: taken away)."""
    out.setdefault((day, region or "", OPENED), Bucket()).problems += sign


def add_fixed(
    out: dict[Key, Bucket], region: str | None, day: object, hours: float, sign: int = 1
) -> None:
    """A problem fixed on ``day`` after ``hours`` (``sign`` -1: taken away)."""
    entry = out.setdefault((day, region or "", fix_bucket(hours)), Bucket())
    entry.problems += sign
    entry.hours_sum += sign * hours
    entry.hours_sq += sign * hours * hours


def contributions(
    episodes: Iterable[tuple[str | None, object, object, float | None]], sign: int = 1
) -> dict[Key, Bucket]:
    """What whole problems add to the histogram: each one's opening day and, when fixed, its
    fixing day in its duration's bucket. An episode is ``(region, opened day, fixed day or
    None, hours or None)``."""
    out: dict[Key, Bucket] = {}
    for region, opened_day, fixed_day, hours in episodes:
        add_opened(out, region, opened_day, sign)
        if fixed_day is not None and hours is not None:
            add_fixed(out, region, fixed_day, hours, sign)
    return out
