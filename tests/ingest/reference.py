"""Brute-force pure-Python reference of ingest and fusion, written from the definitions."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import itertools
from collections import defaultdict
from pathlib import Path

KST = dt.timedelta(hours=9)
FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S")


def parse_ts(text: str) -> dt.datetime | None:
    for fmt in FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def reference_events(
    files: list[Path], cell_region: dict[tuple[str, str], str], key: bytes
) -> tuple[set[tuple], dict[str, int], int]:
    """(events as a set of tuples, quarantine counts by reason, duplicates removed)."""
    kept: set[tuple] = set()
    reasons: dict[str, int] = defaultdict(int)
    duplicates = 0
    for path in files:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                ts = parse_ts(row["ts"] or "")
                if None in row or None in row.values():
                    reasons["malformed"] += 1
                elif not row["carrier"].strip():
                    reasons["blank carrier"] += 1
                elif not row["subscriber_id"].strip():
                    reasons["blank subscriber_id"] += 1
                elif ts is None:
                    reasons["bad ts"] += 1
                elif (row["carrier"], row["cell_id"]) not in cell_region:
                    reasons["unknown cell"] += 1
                else:
                    digest = hmac.new(
                        key, f"{row['carrier']}:{row['subscriber_id']}".encode(), hashlib.sha256
                    ).hexdigest()[:16]
                    event = (
                        row["carrier"],
                        digest,
                        ts,
                        cell_region[(row["carrier"], row["cell_id"])],
                        row["cell_id"],
                    )
                    if event in kept:
                        duplicates += 1
                    kept.add(event)
    return kept, dict(reasons), duplicates


def _by_subscriber(events: set[tuple]) -> dict[tuple[str, str], list[tuple]]:
    grouped: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for carrier, pseudo, ts, region, cell in events:
        grouped[(carrier, pseudo)].append((ts, cell, region))
    for items in grouped.values():
        items.sort()
    return grouped


def reference_od(events: set[tuple]) -> dict[tuple[dt.date, str, str], int]:
    counts: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    for items in _by_subscriber(events).values():
        for (_, _, prev_region), (ts, _, region) in itertools.pairwise(items):
            if prev_region != region:
                counts[((ts + KST).date(), prev_region, region)] += 1
    return dict(counts)


def reference_presence(events: set[tuple], max_gap_hours: int) -> dict[tuple, int]:
    """People per (KST date, hour, region): an event there in the hour, or the last event
    before the hour was there at most ``max_gap_hours`` before the hour's start."""
    present: dict[tuple, set] = defaultdict(set)
    gap = dt.timedelta(hours=max_gap_hours)
    for who, items in _by_subscriber(events).items():
        for index, (ts, _, region) in enumerate(items):
            hour = ts.replace(minute=0, second=0, microsecond=0)
            present[(hour, region)].add(who)
            nxt = items[index + 1][0] if index + 1 < len(items) else None
            following = hour + dt.timedelta(hours=1)
            while following < ts + gap and (nxt is None or following < nxt):
                present[(following, region)].add(who)
                following += dt.timedelta(hours=1)
    out: dict[tuple, int] = {}
    for (hour, region), who in present.items():
        local = hour + KST
        out[(local.date(), local.hour, region)] = len(who)
    return out


def _modal(counter: dict[str, int]) -> str:
    return min(counter, key=lambda region: (-counter[region], region))


def reference_commuting(events: set[tuple]) -> dict[tuple, int]:
    """People per (KST date, home region, day region), from the definitions in fusion."""
    night: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    day: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for carrier, pseudo, ts, region, _ in events:
        local = ts + KST
        if local.hour >= 19 or local.hour < 7:
            night[(carrier, pseudo)][region] += 1
        if 9 <= local.hour < 18:
            day[(carrier, pseudo, local.date())][region] += 1
    out: dict[tuple, int] = defaultdict(int)
    for (carrier, pseudo, date), counter in day.items():
        if (carrier, pseudo) in night:
            out[(date, _modal(night[(carrier, pseudo)]), _modal(counter))] += 1
    return dict(out)
