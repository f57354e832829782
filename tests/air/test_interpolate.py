"""PM2.5 between stations: regression kriging against inverse-distance weighting on the truth."""

from datetime import datetime

import numpy as np
import pytest

from spreadwatch import regions
from spreadwatch.air.interpolate import idw, regression_kriging
from spreadwatch.regions.distance import planar_km
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.geography import Geography
from spreadwatch.synth.stations import StationConfig, site_stations


def test_idw_is_exact_at_a_station_and_a_weighted_mean_between():
    stations = np.array([[0.0, 0.0], [10.0, 0.0]])
    values = np.array([[10.0, 30.0], [np.nan, 30.0]])
    got = idw(stations, values, np.array([[0.0, 0.0], [5.0, 0.0], [2.5, 0.0]]))
    assert got[0, 0] == pytest.approx(10.0)
    assert got[0, 1] == pytest.approx(20.0)
    assert got[0, 2] == pytest.approx((10 / 2.5**2 + 30 / 7.5**2) / (1 / 2.5**2 + 1 / 7.5**2))
    assert got[1].tolist() == pytest.approx([30.0] * 3)  # only one station read that hour


def test_kriging_beats_idw_on_the_synthetic_truth_with_honest_spread():
    geo = Geography.load()
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    hours = 24
    field = DustField(DustConfig(start=datetime(2020, 2, 3), hours=hours), geo, areas)
    stations = site_stations(geo, StationConfig())
    rng = np.random.default_rng(5)
    truth_at_stations = field.pm25(stations.lat, stations.lon, np.arange(hours))
    readings = truth_at_stations * np.exp(rng.normal(0, 0.08, truth_at_stations.shape))
    readings[rng.random(readings.shape) < 0.05] = np.nan  # gaps
    district = np.repeat(np.arange(geo.size), 4)  # four points of every district
    lat, lon = geo.points_inside(district, rng)
    truth = field.pm25(lat, lon, np.arange(hours))
    at_stations, at_points = planar_km(stations.lat, stations.lon), planar_km(lat, lon)
    baseline = idw(at_stations, readings, at_points)
    kriged = regression_kriging(
        at_stations,
        np.column_stack([stations.lon, field.source_strength[stations.district]]),
        readings,
        at_points,
        np.column_stack([lon, field.source_strength[district]]),
    )

    def rmse(estimate):
        return np.sqrt(np.mean((estimate - truth) ** 2))

    assert rmse(kriged.mean) < 0.8 * rmse(baseline)
    inside = np.abs(kriged.mean - truth) <= 1.645 * kriged.sd  # nominal 90%
    assert 0.75 < inside.mean() < 0.99
    assert 10 < kriged.length_km < 500
