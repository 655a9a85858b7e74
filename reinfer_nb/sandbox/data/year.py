"""The shape of the sample year, 2024: how many comments each hour receives, which incident
is running then, how label shares drift, and how many comments people review.

Everything is integer arithmetic on the tables in :mod:`.vocabulary`, so the shape is the
same on every platform and a seed gives the same comments everywhere. The year has
``BINS`` hour bins; a bin's weight is the hourly profile of its local (Europe/London) hour,
weekday or weekend, times the season of its day, times any special day, times a little
seeded noise, times the multiplier of a running incident.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from . import vocabulary as vocab

__all__ = [
    "BINS",
    "DAYS",
    "HOUR_US",
    "START_US",
    "Year",
    "day_of",
    "label_table",
    "reviewed_share",
    "year",
]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z, a Monday
HOUR_US = 3_600_000_000
DAYS = 366
BINS = DAYS * 24
_FIRST = date(2024, 1, 1)
# British Summer Time in 2024, as hour bins: 2024-03-31T01:00Z to 2024-10-27T01:00Z.
_BST = ((date(2024, 3, 31) - _FIRST).days * 24 + 1, (date(2024, 10, 27) - _FIRST).days * 24 + 1)
ONE = 1 << 32  # probabilities are integers out of ONE, compared with 32-bit hash words


class Year(NamedTuple):
    """The volume of every hour bin of the year, and the incident running in it."""

    cumulative: tuple[int, ...]  # total weight of the bins before bin i (BINS + 1 entries)
    incident: tuple[int, ...]  # per bin: the index into vocab.INCIDENTS, or -1
    incident_share: tuple[int, ...]  # per bin: the incident's share of its volume, of ONE


def day_of(iso_date: str) -> int:
    """The day of the sample year of ``YYYY-MM-DD`` (0 for 1 January)."""
    return (date.fromisoformat(iso_date) - _FIRST).days


@lru_cache(maxsize=8)
def year(seed: int) -> Year:
    """The year's bins for a tenant seed (computed once per seed).

    Each day and each hour gets a little seeded noise (days 0.8-1.2x, hours 0.9-1.1x), so
    charts look like real traffic rather than a smooth curve.
    """
    season = _season()
    # random.Random seeded from a string and getrandbits are the same on every platform.
    rng = random.Random(f"reinfer-nb sample year {seed}")
    days = [800 + rng.getrandbits(16) % 401 for _ in range(DAYS)]
    incidents = [-1] * DAYS
    for index, event in enumerate(vocab.INCIDENTS):
        first = day_of(event.start)
        for day in range(first, first + event.days):
            assert incidents[day] == -1, f"incidents overlap on day {day}"
            incidents[day] = index
    tenths = [round(event.multiplier * 10) for event in vocab.INCIDENTS]
    cumulative, running, share = [0], [], []
    for i in range(BINS):
        local = i + 1 if _BST[0] <= i < _BST[1] else i
        weekday = (local // 24) % 7  # 0 is Monday
        hours = vocab.WEEKDAY_HOURS if weekday < 5 else vocab.WEEKEND_HOURS
        week = vocab.SUNDAY_PERMILLE if weekday == 6 else 1000
        noise = days[i // 24] * (900 + rng.getrandbits(16) % 201)
        base = hours[local % 24] * season[i // 24] * week * noise
        now = incidents[i // 24]
        total = base if now < 0 else base * tenths[now] // 10
        cumulative.append(cumulative[-1] + total)
        running.append(now)
        share.append((total - base) * ONE // total if total else 0)
    return Year(tuple(cumulative), tuple(running), tuple(share))


def _season() -> list[int]:
    """Weight per mille of each day: the monthly curve, linear between the 15ths, with the
    special days applied."""
    anchors = [(date(2024, month, 15) - _FIRST).days for month in range(1, 13)]
    values = vocab.MONTHLY_PERMILLE
    season = []
    for day in range(DAYS):
        j = bisect_right(anchors, day) - 1
        if j < 0:
            value = values[0]
        elif j == len(anchors) - 1:
            value = values[-1]
        else:
            span = anchors[j + 1] - anchors[j]
            value = values[j] + (values[j + 1] - values[j]) * (day - anchors[j]) // span
        season.append(value)
    for iso, permille in vocab.SPECIAL_DAYS.items():
        season[day_of(iso)] = season[day_of(iso)] * permille // 1000
    return season


@lru_cache(maxsize=64)
def label_table(labels: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Per day, the cumulative integer weights of ``labels`` (most common first).

    The r-th label weighs about ``1 / r**1.1`` (a Zipf-like skew), times its drift on the
    day (see ``vocab.LABEL_DRIFT``).
    """
    base = [1_000_000_000 // round(rank**1.1 * 1000) for rank in range(1, len(labels) + 1)]
    table = []
    for day in range(DAYS):
        total, row = 0, []
        for label, weight in zip(labels, base, strict=True):
            drift = vocab.LABEL_DRIFT.get(label)
            if drift is not None:
                weight = weight * (drift[0] + (drift[1] - drift[0]) * day // (DAYS - 1)) // 1000
            total += weight
            row.append(total)
        table.append(tuple(row))
    return tuple(table)


def reviewed_share(day: int) -> int:
    """The share of day ``day``'s comments that people reviewed, per mille."""
    first, last = vocab.REVIEWED_PERMILLE
    return first + (last - first) * day // (DAYS - 1)
