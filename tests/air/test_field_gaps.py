"""A network-wide outage does not stop the field: the hours without enough readings are
filled in time and marked."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spreadwatch import regions
from spreadwatch.air.field import estimate_field
from spreadwatch.air.interpolate import MIN_READINGS
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.geography import Geography
from spreadwatch.synth.stations import StationConfig, readings, site_stations

HOURS = 36


@pytest.fixture(scope="module")
def network():
    geo = Geography.load()
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    field = DustField(DustConfig(start=datetime(2020, 2, 1), hours=HOURS), geo, areas)
    stations = site_stations(geo, StationConfig())
    table = stations.table(geo)
    placed = table.append_column(
        "region_code", pa.array(geo.codes[stations.district].tolist(), pa.string())
    )
    rows = readings(stations, field, StationConfig())
    ts = pc.strptime(rows["ts"], format="%Y-%m-%dT%H:%M:%SZ", unit="us").cast(
        pa.timestamp("us", tz="UTC")
    )
    clean = pc.and_(pc.greater_equal(rows["pm25"], 0), pc.less(rows["pm25"], 999))
    value = pc.if_else(pc.and_(clean, pc.equal(rows["flag"], "")), rows["pm25"], None)
    return placed, pa.table({"station_id": rows["station_id"], "ts": ts, "pm25": value})


def _blank(table: pa.Table, hour: int, keep: int = 0) -> pa.Table:
    """``table`` with the readings of ``hour`` gone but ``keep`` of them."""
    first = pc.min(table["ts"]).as_py()
    at = pc.equal(table["ts"], pa.scalar(first.replace(hour=hour), table["ts"].type))
    order = np.cumsum(at.to_numpy(zero_copy_only=False))
    drop = at.to_numpy(zero_copy_only=False) & (order > keep)
    return table.filter(pa.array(~drop))


def test_hours_without_enough_readings_are_filled_in_time_and_marked(network):
    stations, rows = network
    whole = estimate_field(stations, rows)
    gappy = estimate_field(stations, _blank(_blank(rows, 10), 11, keep=MIN_READINGS - 1))
    assert gappy.interpolated.tolist() == [h in (10, 11) for h in range(HOURS)]
    assert not np.isnan(gappy.mean).any()
    assert np.isnan(gappy.sd[[10, 11]]).all() and not np.isnan(gappy.sd[9]).any()
    between = gappy.mean[9] + (gappy.mean[12] - gappy.mean[9]) / 3
    assert gappy.mean[10] == pytest.approx(between)
    assert np.abs(gappy.mean[10] - whole.mean[10]).mean() < 0.1 * whole.mean[10].mean()
    table = gappy.table()
    assert pc.sum(table["interpolated"]).as_py() == 2 * 229


def test_no_hour_with_enough_readings_is_refused(network):
    stations, rows = network
    few = rows.slice(0, MIN_READINGS - 1)
    with pytest.raises(ValueError, match="station readings"):
        estimate_field(stations, few)
