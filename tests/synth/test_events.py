"""Location events, roaming and the raw file contracts of DESIGN.md, parsed back from disk."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from scipy import stats

from spreadwatch.synth import SynthConfig, generate
from spreadwatch.synth.events import LOCAL_HOUR_WEIGHTS
from spreadwatch.synth.telemetry import READING_KINDS
from tests.synth.conftest import BASE, ISO_UTC, LOCATION_COLUMNS, parse_utc, read_csv

CONTRACTS = {
    "cells.csv": ["carrier", "cell_id", "lat", "lon"],
    "roaming_events.csv": ["carrier", "subscriber_id", "ts", "country", "event", "direction"],
    "cases.csv": ["region_code", "date", "confirmed"],
    "households.csv": ["platform", "household_id", "region_code", "consent"],
    "household_members.csv": ["platform", "household_id", "carrier", "subscriber_id"],
}
TELEMETRY = ["platform", "device_id", "household_id", "ts", "kind", "value", "consent"]
TYPES = {
    "cells.csv": {
        "carrier": pa.string(),
        "cell_id": pa.string(),
        "lat": pa.float64(),
        "lon": pa.float64(),
    },
    "roaming_events.csv": {c: pa.string() for c in CONTRACTS["roaming_events.csv"]},
    "cases.csv": {"region_code": pa.string(), "date": pa.date32(), "confirmed": pa.int64()},
    "households.csv": {
        "platform": pa.string(),
        "household_id": pa.string(),
        "region_code": pa.string(),
        "consent": pa.bool_(),
    },
    "household_members.csv": {c: pa.string() for c in CONTRACTS["household_members.csv"]},
}


def _window(run) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(run.config.start_date)
    return start, start + pd.Timedelta(days=run.config.days)


def _abroad_days(run) -> set[tuple[str, str, str]]:
    """(carrier, subscriber_id, date) of every UTC day an outbound trip overlaps."""
    travel = run.truth("travel")
    out = set()
    for row in travel[travel["direction"] == "outbound"].itertuples():
        start = row.start.tz_convert(None)
        end = row.end.tz_convert(None)
        for day in run.dates:
            day_start = pd.Timestamp(day)
            if start < day_start + pd.Timedelta(days=1) and end > day_start:
                out.add((row.carrier, row.subscriber_id, day.isoformat()))
    return out


def test_raw_files_follow_the_contracts(base, sigungu):
    raw = base.root / "raw"
    for name, columns in CONTRACTS.items():
        header, rows = read_csv(raw / name)
        assert header == columns, name
        assert rows and all(len(r) == len(columns) for r in rows), name
        typed = pacsv.read_csv(
            raw / name, convert_options=pacsv.ConvertOptions(column_types=TYPES[name])
        )
        assert typed.column_names == columns
        assert typed.schema == pa.schema(TYPES[name])
    for path in base.location_files:
        header, rows = read_csv(path)
        assert header == LOCATION_COLUMNS
        assert all(len(r) == 4 for r in rows)
        assert {r[0] for r in rows} == {path.parent.name}
    assert sorted(p.name for p in (raw / "location_events").iterdir()) == sorted(BASE.carriers)
    for carrier in BASE.carriers:
        days = sorted(p.name for p in (raw / "location_events" / carrier).iterdir())
        assert days == [f"{d.isoformat()}.csv" for d in base.dates]

    cases = pd.read_csv(raw / "cases.csv", dtype={"region_code": str})
    assert set(cases["region_code"]) == set(sigungu["code"])
    assert len(cases) == len(sigungu) * BASE.days
    assert (cases["confirmed"] >= 0).all()

    for platform in BASE.telemetry.platforms:
        path = raw / "device_telemetry" / f"{platform}.csv"
        header, rows = read_csv(path)
        assert header == TELEMETRY
        frame = pd.DataFrame(rows, columns=header)
        assert (frame["platform"] == platform).all()
        assert frame["kind"].isin(READING_KINDS).all()
        assert frame["consent"].isin(["true", "false"]).all()
        frame["value"].astype(float)
        assert parse_utc(frame["ts"]).between(*_window(base), inclusive="left").all()


def test_roaming_events_match_the_travel_truth(base):
    header, rows = read_csv(base.root / "raw" / "roaming_events.csv")
    roam = pd.DataFrame(rows, columns=header)
    travel = base.truth("travel")
    start, end = _window(base)
    roam["t"] = parse_utc(roam["ts"])
    assert roam["t"].between(start, end, inclusive="left").all()
    assert roam["t"].is_monotonic_increasing
    assert roam["country"].str.fullmatch(r"[A-Z]{3}").all()
    assert roam["event"].isin(["attach", "detach"]).all()
    assert roam["direction"].isin(["outbound", "inbound"]).all()

    attach = roam[roam["event"] == "attach"]
    assert len(attach) == len(travel)
    assert (
        attach.groupby("direction").size().to_dict() == travel.groupby("direction").size().to_dict()
    )
    back = travel[travel["end"].dt.tz_convert(None) < end]
    assert (roam["event"] == "detach").sum() == len(back)
    key = ["direction", "carrier", "subscriber_id", "country"]
    merged = attach.merge(travel, on=key, validate="1:1")
    assert (merged["t"] == merged["start"].dt.tz_convert(None)).all()

    subs = base.truth("subscribers")
    outbound = travel[travel["direction"] == "outbound"]
    assert outbound.merge(subs, on=["carrier", "subscriber_id"]).shape[0] == len(outbound)
    for carrier, n in base.manifest.subscribers_by_carrier.items():
        assert (outbound["carrier"] == carrier).sum() == round(BASE.roaming.outbound_share * n)
    inbound = travel[travel["direction"] == "inbound"]
    assert inbound["subscriber_id"].str.fullmatch(r"[0-9]{15}").all()
    assert not inbound["subscriber_id"].isin(subs["subscriber_id"]).any()


def test_no_domestic_events_while_abroad(base):
    travel = base.truth("travel")
    outbound = travel[travel["direction"] == "outbound"]
    assert len(outbound) > 10
    events = base.events.dropna(subset=["t"]).merge(outbound, on=["carrier", "subscriber_id"])
    assert len(events) > 0
    during = (events["t"] >= events["start"].dt.tz_convert(None)) & (
        events["t"] < events["end"].dt.tz_convert(None)
    )
    assert not during.any()


def test_every_subscriber_present_has_events_every_day(base):
    subs = base.truth("subscribers")
    e = base.events
    abroad = _abroad_days(base)
    seen = set(zip(e["carrier"], e["subscriber_id"], e["file_date"], strict=True))
    blank_by_file = e[e["subscriber_id"] == ""].groupby(["carrier", "file_date"]).size()
    for carrier in BASE.carriers:
        ids = subs.loc[subs["carrier"] == carrier, "subscriber_id"]
        for day in base.dates:
            missing = [
                s
                for s in ids
                if (carrier, s, day.isoformat()) not in seen
                and (carrier, s, day.isoformat()) not in abroad
            ]
            # a subscriber-day can only vanish if its rows were all blanked
            assert len(missing) <= blank_by_file.get((carrier, day.isoformat()), 0)


def test_mean_events_per_subscriber_day(base):
    e = base.clean_events
    abroad = _abroad_days(base)
    key = list(zip(e["carrier"], e["subscriber_id"], e["file_date"], strict=True))
    present = e[[k not in abroad for k in key]]
    per_day = present.groupby(["carrier", "subscriber_id", "file_date"]).size()
    subscriber_days = BASE.subscribers * BASE.days - len(abroad)
    assert len(per_day) == pytest.approx(subscriber_days, abs=5)
    expected = BASE.events_per_day + 1
    se = math.sqrt(BASE.events_per_day / subscriber_days)
    assert abs(per_day.mean() - expected) < 4 * se + 0.01  # 0.01: rows lost to messiness
    assert per_day.min() >= 1
    # Poisson(events_per_day) + 1: the variance equals events_per_day too
    assert per_day.var() == pytest.approx(BASE.events_per_day, rel=0.1)


def test_timestamps_are_in_the_file_day_and_distinct_per_subscriber(base):
    e = base.events
    valid = e.dropna(subset=["t"])
    assert (valid["t"].dt.strftime("%Y-%m-%d") == valid["file_date"]).all()
    clean = base.clean_events
    assert not clean.duplicated(["carrier", "subscriber_id", "ts"]).any()


def test_hours_follow_the_diurnal_profile_in_korean_time(base):
    """UTC hour h is Korean local hour h + 9 (no daylight saving)."""
    e = base.clean_events
    observed = np.bincount(e["t"].dt.hour, minlength=24)
    local = np.asarray(LOCAL_HOUR_WEIGHTS, dtype=float)
    utc = np.array([local[(h + 9) % 24] for h in range(24)])
    expected = utc / utc.sum() * observed.sum()
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # the quietest local hours (02-04) are 17-19 UTC
    assert observed.argmin() in (17, 18, 19)


def test_event_count_is_close_to_the_expected_count(base):
    total = base.manifest.totals["location_events"]
    assert total == len(base.events)
    assert abs(total - BASE.expected_events) / BASE.expected_events < 0.03


def test_for_events_run_writes_about_the_target(tmp_path):
    config = SynthConfig.for_events(60_000, days=3, seed=2)
    manifest = generate(config, tmp_path)
    assert abs(config.expected_events - 60_000) / 60_000 < 0.01
    assert abs(manifest.totals["location_events"] - 60_000) / 60_000 < 0.03


def test_window_boundaries_are_utc_days(base):
    first = datetime.combine(BASE.start_date, datetime.min.time(), tzinfo=UTC)
    e = base.events.dropna(subset=["t"])
    assert e["t"].min() >= pd.Timestamp(first).tz_convert(None)
    last = first + timedelta(days=BASE.days)
    assert e["t"].max() < pd.Timestamp(last).tz_convert(None)
    assert date.fromisoformat(e["file_date"].max()) == BASE.start_date + timedelta(BASE.days - 1)
    assert ISO_UTC.fullmatch(e["ts"].iloc[0])


def test_distinct_seconds_keeps_each_subscriber_second_unique_and_inside_the_day():
    from spreadwatch.synth.events import distinct_seconds

    subscriber = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    second = np.array([5, 5, 6, 86_399, 86_399, 86_398, 86_398, 86_398])
    who, when = distinct_seconds(subscriber, second, 3)
    pairs = list(zip(who.tolist(), when.tolist(), strict=True))
    assert pairs == sorted(pairs, key=lambda p: (p[1], p[0]))  # time order
    assert sorted(pairs) == [(0, 5), (0, 6), (0, 7), (1, 86_399), (2, 86_398), (2, 86_399)]
