"""Synthetic stations: sited inside their districts, readings near the truth, defects as set."""

from datetime import datetime

import numpy as np
import pyarrow.compute as pc
import pytest

from spreadwatch import regions
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.geography import Geography
from spreadwatch.synth.stations import SATURATED, StationConfig, readings, site_stations


@pytest.fixture(scope="module")
def network():
    geo = Geography.load()
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    field = DustField(DustConfig(start=datetime(2020, 2, 1), hours=72), geo, areas)
    config = StationConfig()
    stations = site_stations(geo, config)
    return geo, field, config, stations, readings(stations, field, config)


def test_stations_stand_in_their_districts_and_follow_population(network):
    geo, _, config, stations, _ = network
    located = regions.locate(stations.lat, stations.lon)
    assert (located == geo.codes[stations.district]).mean() > 0.99  # borders: a hair either side
    per_district = np.bincount(stations.district, minlength=geo.size)
    assert (per_district == 0).sum() == int(geo.size * config.unmonitored_share)
    assert per_district[np.argmax(geo.population)] >= 3


def test_readings_scatter_around_the_truth_with_the_defects_set(network):
    _, field, config, stations, rows = network
    hours = field.config.hours
    expected_rows = stations.count * hours
    assert rows.num_rows / expected_rows == pytest.approx(1 - config.missing_share, abs=0.02)
    pm25 = rows["pm25"].to_numpy(zero_copy_only=False)
    flagged = pc.not_equal(rows["flag"], "").to_numpy(zero_copy_only=False)
    assert np.isnan(pm25[flagged]).all() and not np.isnan(pm25[~flagged]).any()
    assert (pm25 < 0).mean() == pytest.approx(config.negative_share, abs=0.001)
    assert (pm25 == SATURATED).mean() == pytest.approx(config.saturated_share, abs=0.0007)
    # clean readings against the truth at the station and hour: unbiased, about error_sd apart
    index = {s: i for i, s in enumerate(stations.station_id)}
    station = np.array([index[s] for s in rows["station_id"].to_pylist()])
    start = np.datetime64("2020-02-01T00:00:00")
    stamps = np.array([t.rstrip("Z") for t in rows["ts"].to_pylist()], "datetime64[s]")
    hour = ((stamps - start) // np.timedelta64(1, "h")).astype(int)
    truth = field.pm25(stations.lat, stations.lon, np.arange(hours))[hour, station]
    clean = ~flagged & (pm25 >= 0) & (pm25 != SATURATED)
    log_error = np.log(np.maximum(pm25[clean], 0.5) / truth[clean])
    assert np.median(log_error) == pytest.approx(0.0, abs=0.02)
    assert np.std(log_error) == pytest.approx(config.error_sd, rel=0.35)  # rounding adds some
