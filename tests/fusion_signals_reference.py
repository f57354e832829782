"""Pure-Python reference implementations of the importation and household-signal definitions."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

KST = dt.timedelta(hours=9)


def local(ts: dt.datetime) -> tuple[dt.date, int]:
    t = ts.replace(tzinfo=None) + KST
    return t.date(), t.hour


def homes(events: list[dict]) -> dict[tuple[str, str], str]:
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for e in events:
        _, hour = local(e["ts"])
        if hour >= 19 or hour < 7:
            counts[(e["carrier"], e["subscriber_pseudo"])][e["region_code"]] += 1
    return {who: min(c, key=lambda region: (-c[region], region)) for who, c in counts.items()}


def importations(roaming: list[dict], events: list[dict]) -> dict[tuple, int]:
    home = homes(events)
    out: Counter = Counter()
    for r in roaming:
        arriving = (r["direction"], r["event"]) in (("outbound", "detach"), ("inbound", "attach"))
        if arriving:
            day, _ = local(r["ts"])
            region = home.get((r["carrier"], r["subscriber_pseudo"]), "unknown")
            out[(day, r["country"], region, r["direction"])] += 1
    return dict(out)


def household_signals(telemetry: list[dict], households: list[dict]) -> dict[tuple, tuple]:
    region = {(h["platform"], h["household_pseudo"]): h["region_code"] for h in households}
    reporting: dict[tuple, set] = defaultdict(set)
    active: dict[tuple, list] = defaultdict(list)  # (household, date) -> 0/1 daytime values
    temps: dict[tuple, list] = defaultdict(list)
    for t in telemetry:
        who = (t["platform"], t["household_pseudo"])
        if who not in region:
            continue
        day, hour = local(t["ts"])
        reporting[(day, region[who])].add(who)
        if t["kind"] in ("presence", "appliance_on") and 9 <= hour < 18:
            active[(who, day)].append(1.0 if t["value"] == 1 else 0.0)
        if t["kind"] == "body_temp":
            temps[(who, day)].append(t["value"])
    share = {key: sum(v) / len(v) for key, v in active.items()}
    per_household: dict[tuple, list] = defaultdict(list)
    for (who, _), s in share.items():
        per_household[who].append(s)
    baseline = {who: sum(v) / len(v) for who, v in per_household.items()}
    out = {}
    for (day, code), members in reporting.items():
        ratios = [
            share[(who, day)] / baseline[who]
            for who in members
            if (who, day) in share and baseline[who] > 0
        ]
        fevers = [max(temps[(who, day)]) >= 37.5 for who in members if (who, day) in temps]
        lasting = [
            who
            for who in members
            if feverish(temps, who, day) and feverish(temps, who, day - dt.timedelta(days=1))
        ]
        out[(day, code)] = (
            len(members),
            sum(ratios) / len(ratios) if ratios else None,
            sum(fevers) / len(fevers) if fevers else None,
            len(fevers),
            sum(fevers),
            len(lasting),
        )
    return out


def feverish(temps: dict[tuple, list], who: tuple, day: dt.date) -> bool:
    """Whether a household's highest reading of a day was a fever."""
    return (who, day) in temps and max(temps[(who, day)]) >= 37.5
