"""Brute-force pure-Python contribution bounding, written from the definitions in docs/privacy.md.

Events are tuples ``(carrier, subscriber_pseudo, ts: aware UTC datetime, region_code, cell_id)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

from tests.ingest.reference import _by_subscriber

KST = dt.timedelta(hours=9)
HOUR = dt.timedelta(hours=1)


def od_counts(
    events: list[tuple], regions: set[str], start: dt.date, end: dt.date, bound: int
) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """(bounded, unbounded) trips per (KST date, origin, dest) in the key set."""
    bounded: dict[tuple, int] = defaultdict(int)
    unbounded: dict[tuple, int] = defaultdict(int)
    for items in _by_subscriber(events).values():
        per_day: dict[dt.date, list[tuple]] = defaultdict(list)
        for (_, _, origin), (ts, cell, dest) in itertools.pairwise(items):
            day = (ts + KST).date()
            if origin == dest or not start <= day <= end:
                continue
            if origin not in regions or dest not in regions:
                continue
            per_day[day].append(((ts, cell, dest, origin), origin, dest))
        for day, trips in per_day.items():
            trips.sort()
            for n, (_, origin, dest) in enumerate(trips):
                unbounded[(day, origin, dest)] += 1
                if n < bound:
                    bounded[(day, origin, dest)] += 1
    return dict(bounded), dict(unbounded)


def presence_counts(
    events: list[tuple],
    regions: set[str],
    start: dt.date,
    end: dt.date,
    bound: int,
    max_gap_hours: int = 12,
) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """(bounded, unbounded) people per (KST date, hour, region) in the key set.

    Present in (hour, region) if an event there in the hour, or the last event before the hour
    was there at most ``max_gap_hours`` earlier. A subscriber's cells of a date are ranked by
    (rank within the hour by the time they were first there, then region; hour; region)."""
    gap = dt.timedelta(hours=max_gap_hours)
    bounded: dict[tuple, int] = defaultdict(int)
    unbounded: dict[tuple, int] = defaultdict(int)
    for items in _by_subscriber(events).values():
        entered: dict[tuple[dt.datetime, str], dt.datetime] = {}
        for index, (ts, _, region) in enumerate(items):
            hour = ts.replace(minute=0, second=0, microsecond=0)
            nxt = items[index + 1][0] if index + 1 < len(items) else None
            spans = [(hour, ts)]
            following = hour + HOUR
            while following < ts + gap and (nxt is None or following < nxt):
                spans.append((following, following))
                following += HOUR
            for when, first in spans:
                key = (when, region)
                entered[key] = min(entered.get(key, first), first)
        cells: dict[dt.date, dict[int, list[tuple]]] = defaultdict(lambda: defaultdict(list))
        for (when, region), first in entered.items():
            local = when + KST
            if region in regions and start <= local.date() <= end:
                cells[local.date()][local.hour].append((first, region))
        for day, hours in cells.items():
            ranked = []
            for hour, found in hours.items():
                for within, (_, region) in enumerate(sorted(found)):
                    ranked.append((within, hour, region))
            ranked.sort()
            for n, (_, hour, region) in enumerate(ranked):
                unbounded[(day, hour, region)] += 1
                if n < bound:
                    bounded[(day, hour, region)] += 1
    return dict(bounded), dict(unbounded)
