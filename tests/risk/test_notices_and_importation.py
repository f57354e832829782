"""Traveler notices against a brute-force walk over the events; importation risk by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.infer import CasesError
from spreadwatch.risk import importation_risk, read_incidence, traveler_notices
from spreadwatch.risk.notices import KST


def _random_roaming(rng: np.random.Generator, subscribers: int = 300) -> pd.DataFrame:
    rows = []
    start = pd.Timestamp("2020-02-01", tz="UTC")
    for s in range(subscribers):
        carrier = ["SKT", "KT"][s % 2]
        pseudo = f"{s:016x}"
        t = start + pd.Timedelta(hours=float(rng.uniform(0, 24 * 20)))
        for _ in range(rng.integers(1, 4)):
            country = rng.choice(["CHN", "JPN", "IRN"])
            if rng.uniform() < 0.3:  # a visitor arriving
                rows.append((carrier, pseudo, t, country, "attach", "inbound"))
            else:
                rows.append((carrier, pseudo, t, country, "attach", "outbound"))
                t = t + pd.Timedelta(hours=float(rng.uniform(5, 24 * 8)))
                if rng.uniform() < 0.8:  # else still abroad
                    rows.append((carrier, pseudo, t, country, "detach", "outbound"))
            t = t + pd.Timedelta(hours=float(rng.uniform(1, 24 * 6)))
    columns = ["carrier", "subscriber_pseudo", "ts", "country", "event", "direction"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(ts=frame["ts"].dt.floor("s"))  # the contract's whole seconds


def _brute_force(events: pd.DataFrame, listed: set[str], as_of: dt.date, days: int) -> dict:
    end = pd.Timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), KST))
    begin = end - pd.Timedelta(days=days)
    latest: dict[tuple[str, str], pd.Timestamp] = {}
    rows = list(events.sort_values("ts").itertuples(index=False))
    for i, e in enumerate(rows):
        if e.country not in listed or e.event != "attach":
            continue
        if e.direction == "inbound":
            stay_start = stay_end = e.ts
        else:
            stay_start, stay_end = e.ts, end
            for later in rows[i:]:
                if (later.carrier, later.subscriber_pseudo, later.country, later.event) == (
                    e.carrier,
                    e.subscriber_pseudo,
                    e.country,
                    "detach",
                ) and later.ts >= e.ts:
                    stay_end = later.ts
                    break
        if stay_start < end and stay_end >= begin:
            key = (e.carrier, e.subscriber_pseudo)
            latest[key] = max(
                latest.get(key, stay_start - pd.Timedelta(days=999)), min(stay_end, end)
            )
    return latest


@pytest.mark.parametrize(
    ("as_of", "days"),
    [(dt.date(2020, 2, 14), 14), (dt.date(2020, 2, 25), 21), (dt.date(2020, 2, 10), 3)],
)
def test_notices_equal_a_brute_force_walk(as_of, days):
    events = _random_roaming(np.random.default_rng(days))
    listed = {"CHN", "IRN"}
    table = traveler_notices(events, sorted(listed), as_of, days).to_pandas()
    expected = _brute_force(events, listed, as_of, days)
    got = {(r.carrier, r.subscriber_pseudo): r.last_there for r in table.itertuples()}
    assert set(got) == set(expected) and len(got) > 10
    for key, when in expected.items():
        assert got[key] == when
        assert table.set_index(["carrier", "subscriber_pseudo"]).loc[key, "days_since"] == max(
            0, (as_of - when.tz_convert(KST).date()).days
        )  # 0: still there


def test_importation_risk_by_hand(tmp_path):
    arrivals = pd.DataFrame(
        {
            "date": [dt.date(2020, 2, 1), dt.date(2020, 2, 1), dt.date(2020, 2, 3)],
            "country": ["CHN", "JPN", "CHN"],
            "region_code": ["11010", "11010", "26010"],
            "direction": ["outbound"] * 3,
            "arrivals": [20, 50, 10],
            "suppressed": [False] * 3,
        }
    )
    path = tmp_path / "incidence.csv"
    path.write_text("country,date,incidence_per_100k\nCHN,2020-01-31,30\nCHN,2020-02-02,50\n")
    table = importation_risk(arrivals, read_incidence(path), exposure_days=7).to_pandas()
    first = table[table["region_code"] == "11010"].iloc[0]
    assert first["expected_infected"] == pytest.approx(20 * 30 / 1e5 * 7)  # JPN not listed: 0
    assert first["arrivals"] == 70 and first["top_country"] == "CHN"
    later = table[table["region_code"] == "26010"].iloc[0]
    assert later["expected_infected"] == pytest.approx(10 * 50 / 1e5 * 7)  # the latest rate
    default = importation_risk(arrivals).to_pandas()
    assert default["expected_infected"].iloc[0] == pytest.approx(70 * 1 / 1e5 * 7)
    path.write_text("country,date,incidence_per_100k\nCHINA,2020-01-31,30\n")
    with pytest.raises(CasesError, match="row 1, column country: expected an ISO 3166"):
        read_incidence(path)


def test_notices_command_checks_its_options(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "notices",
            str(tmp_path),
            "--countries",
            "CHINA",
            "--as-of",
            "2020-02-14",
            "--out",
            str(tmp_path / "n.csv"),
        ],
    )
    assert result.exit_code == 2 and "'CHINA' is not an ISO 3166 alpha-3 code" in result.output
    result = runner.invoke(
        app,
        [
            "notices",
            str(tmp_path),
            "--countries",
            "CHN",
            "--as-of",
            "2020-02-31",
            "--out",
            str(tmp_path / "n.csv"),
        ],
    )
    assert result.exit_code == 2 and "--as-of: expected a date" in result.output


def test_a_detach_without_attach_is_a_stay_from_the_start_of_the_data():
    events = pd.DataFrame(
        {
            "carrier": ["SKT", "SKT"],
            "subscriber_pseudo": ["a", "b"],
            "ts": pd.to_datetime(["2020-02-01T00:00:00Z", "2020-02-03T05:00:00Z"]),
            "country": ["JPN", "CHN"],
            "event": ["attach", "detach"],
            "direction": ["outbound", "outbound"],
        }
    )
    table = traveler_notices(events, ["CHN"], dt.date(2020, 2, 10), 14).to_pandas()
    assert list(table["subscriber_pseudo"]) == ["b"]
    assert table["last_there"].iloc[0] == pd.Timestamp("2020-02-03T05:00:00Z")
    assert table["days_since"].iloc[0] == 7
