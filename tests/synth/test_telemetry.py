"""Households with home devices and their readings."""

from __future__ import annotations

import math

import pandas as pd

from spreadwatch.synth.telemetry import MEMBER_COLUMNS, PLATFORM_KINDS, PURIFIER_KINDS
from tests.synth.conftest import BASE, parse_utc, read_csv


def _readings(run) -> pd.DataFrame:
    frames = []
    for platform in run.config.telemetry.platforms:
        header, rows = read_csv(run.root / "raw" / "device_telemetry" / f"{platform}.csv")
        frames.append(pd.DataFrame(rows, columns=header))
    readings = pd.concat(frames, ignore_index=True)
    readings["t"] = parse_utc(readings["ts"])
    readings["value"] = readings["value"].astype(float)
    return readings


def test_households_are_a_sample_of_subscribers_homes(base):
    homes = base.truth("households")
    subs = base.truth("subscribers")
    for carrier, n in base.manifest.subscribers_by_carrier.items():
        mine = homes[homes["carrier"] == carrier]
        assert len(mine) == round(BASE.telemetry.household_fraction * n)
    assert homes["household_id"].is_unique
    assert not homes.duplicated(["carrier", "subscriber_id"]).any()
    joined = homes.merge(subs, on=["carrier", "subscriber_id"], validate="1:1")
    assert len(joined) == len(homes)
    assert (joined["home_region_x"] == joined["home_region_y"]).all()
    assert (homes["size"] >= 1).all()
    assert set(homes["platform"]) <= set(BASE.telemetry.platforms)


def test_each_home_of_a_subscriber_has_its_owner_as_registered_member(base):
    header, rows = read_csv(base.root / "raw" / "household_members.csv")
    assert header == list(MEMBER_COLUMNS)
    members = pd.DataFrame(rows, columns=header)
    homes = base.truth("households")
    assert base.manifest.files["raw/household_members.csv"] == len(members) == len(homes)
    owners = homes[["platform", "household_id", "carrier", "subscriber_id"]]
    assert members.equals(owners.astype(str))  # in the households' order
    subscribers = base.truth("subscribers")
    assert len(members.merge(subscribers, on=["carrier", "subscriber_id"])) == len(members)


def test_readings_belong_to_households_with_their_consent_and_platform_kinds(base):
    readings = _readings(base)
    homes = base.truth("households").set_index("household_id")
    assert base.manifest.totals["device_readings"] == len(readings)
    assert readings["t"].notna().all()
    start = pd.Timestamp(BASE.start_date)
    assert readings["t"].between(start, start + pd.Timedelta(days=BASE.days), "left").all()
    assert readings["household_id"].isin(homes.index).all()
    home = homes.loc[readings["household_id"]]
    assert (home["platform"].to_numpy() == readings["platform"].to_numpy()).all()
    consent = readings["consent"].map({"true": True, "false": False})
    assert (consent.to_numpy() == home["consent"].to_numpy()).all()
    for platform, rows in readings.groupby("platform"):
        sold = set(PLATFORM_KINDS[platform])
        assert set(rows["kind"]) <= sold | (set(PURIFIER_KINDS) if "pm25" in sold else set())
    # one device per household and kind (a purifier reports its whole state), ids not shared
    device_kind = readings["kind"].where(~readings["kind"].isin(PURIFIER_KINDS), "pm25")
    devices = readings.assign(device_kind=device_kind).groupby("device_id")
    assert (devices[["household_id", "device_kind"]].nunique() == 1).all().all()
    # plausible values
    by_kind = readings.groupby("kind")["value"]
    assert by_kind.min()["body_temp"] > 34 and by_kind.max()["body_temp"] < 42
    assert set(readings.loc[readings["kind"] == "presence", "value"]) <= {0.0, 1.0}
    assert (readings.loc[readings["kind"] == "pm25", "value"] > 0).all()


def test_consent_share(base):
    homes = base.truth("households")
    p = BASE.telemetry.no_consent_fraction
    refused = (~homes["consent"]).sum()
    assert abs(refused - p * len(homes)) < 4 * math.sqrt(len(homes) * p * (1 - p)) + 1


def test_reading_rates_are_configurable(tmp_path):
    import pytest

    from spreadwatch.synth import SynthConfig, generate

    config = BASE.model_copy(
        update={
            "telemetry": BASE.telemetry.model_copy(
                update={
                    "readings_per_day": {
                        **BASE.telemetry.readings_per_day,
                        "pm25": 0.0,
                        "presence": 24.0,
                    }
                }
            )
        }
    )
    generate(config, tmp_path)
    frames = [pd.read_csv(p) for p in (tmp_path / "raw" / "device_telemetry").glob("*.csv")]
    kinds = pd.concat(frames)["kind"].value_counts()
    assert "pm25" not in kinds and kinds["presence"] > kinds.get("appliance_on", 0)
    with pytest.raises(ValueError, match="unknown kind 'co2'"):
        SynthConfig(telemetry={"readings_per_day": {"co2": 1.0}})


def test_coverage_equips_a_share_of_real_households_in_listed_regions(tmp_path):
    import numpy as np
    import pytest

    from spreadwatch.synth import SynthConfig, generate
    from spreadwatch.synth.geography import Geography
    from spreadwatch.synth.telemetry import PEOPLE_PER_HOUSEHOLD

    telemetry = BASE.telemetry.model_copy(
        update={
            "coverage": 0.002,
            "regions": ["22"],
            "readings_per_day": {"presence": 1.0, "pm25": 0, "appliance_on": 0, "body_temp": 0.2},
        }
    )
    generate(BASE.model_copy(update={"telemetry": telemetry, "days": 3}), tmp_path)
    homes = pd.read_parquet(tmp_path / "truth" / "households.parquet")
    geo = Geography.load()
    regions = pd.Series(geo.population, index=geo.codes)
    counts = homes["home_region"].value_counts()
    daegu = [c for c in regions.index if c.startswith("22")]
    assert set(counts.index) == set(daegu)
    for code in daegu:
        assert counts[code] == np.rint(0.002 * regions[code] / PEOPLE_PER_HOUSEHOLD)
    assert homes["subscriber_id"].isna().all()  # not the subscribers' homes
    header, rows = read_csv(tmp_path / "raw" / "household_members.csv")  # so no members
    assert header == list(MEMBER_COLUMNS) and rows == []
    with pytest.raises(ValueError, match="region code prefix"):
        SynthConfig(telemetry={"regions": ["Daegu"]})
