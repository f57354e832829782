"""The synthetic dust field against what its parameters say it is."""

from datetime import datetime

import numpy as np
import pytest

from spreadwatch import regions
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.geography import Geography


@pytest.fixture(scope="module")
def geo():
    return Geography.load()


def _field(geo, **changes):
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    return DustField(DustConfig(start=datetime(2020, 2, 1), **changes), geo, areas)


def test_the_episode_front_crosses_east_at_its_speed(geo):
    field = _field(geo, episode_speed_kmh=40.0)
    lon = np.array([126.5, 127.5, 128.5])
    hours = np.arange(0, 168, 0.25)
    arrival = hours[np.argmax(field.episode_share(lon, hours), axis=0)]
    km_per_degree = np.pi * 6371.0088 / 180 * np.cos(np.radians(36.5))
    assert np.diff(arrival) == pytest.approx([km_per_degree / 40.0] * 2, abs=0.25)
    peaks = field.episode_share(lon, hours).max(axis=0)
    assert peaks[0] > peaks[1] > peaks[2]  # fading inland


def test_same_seed_same_field_and_the_noise_averages_out(geo):
    hours = np.arange(168)
    one = _field(geo).pm25(geo.lat, geo.lon, hours)
    assert np.array_equal(one, _field(geo).pm25(geo.lat, geo.lon, hours))
    quiet = _field(geo, noise_sd=0.0).pm25(geo.lat, geo.lon, hours)
    assert not np.array_equal(one, quiet)
    assert np.median(one / quiet) == pytest.approx(1.0, abs=0.05)


def test_levels_read_like_a_korean_winter_week(geo):
    field = _field(geo)
    hours = np.arange(168)
    pm25 = field.pm25(geo.lat, geo.lon, hours)
    assert (pm25 > 0).all()
    assert 15 < np.median(pm25) < 40  # ordinary days: good to moderate
    assert pm25.max() > 75  # the episode reaches "very bad" in the west
    seoul = np.flatnonzero(np.char.startswith(geo.codes.astype(str), "11"))
    day = pm25[:24, seoul].mean(axis=1)  # first day, before the episode
    kst = (np.arange(24) + 9) % 24
    assert kst[np.argmax(day)] in (7, 8, 9, 18, 19, 20)  # rush hours
    ratio = field.pm10(geo.lat, geo.lon, hours) / pm25
    assert ratio.min() >= 1.6 - 1e-9 and ratio.max() <= 2.6 + 1e-9


def test_a_season_of_episodes_recurs_at_its_interval_with_varied_strength(geo):
    field = _field(geo, hours=40 * 24, episode_every_hours=120.0)
    starts = np.array([start for start, _ in field.episodes])
    peaks = np.array([peak for _, peak in field.episodes])
    assert starts[0] == 60.0 and len(starts) >= 7
    assert np.diff(starts).min() >= 80.0 - 1e-9 and np.diff(starts).max() <= 160.0 + 1e-9
    assert peaks.std() > 5.0  # not all alike
    coast = np.array([126.2])
    series = field.episode_share(coast, np.arange(40 * 24, dtype=float))[:, 0]
    rises = np.flatnonzero((series[1:] > 20) & (series[:-1] <= 20))
    assert len(rises) >= 6  # each front passes the coast as an episode of its own
    with pytest.raises(ValueError, match="episode_every_hours"):
        _field(geo, episode_every_hours=10.0)
