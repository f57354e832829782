"""The indoor/outdoor ratio from purifiers against the synthetic homes' truth."""

from __future__ import annotations

import numpy as np
import pytest

from spreadwatch.air.indoor import PurifierReadings, fit_indoor
from spreadwatch.synth.purifiers import IndoorConfig, indoor_state, make_homes, population_indoor

N = 229
HOURS = 24 * 8
START = np.datetime64("2020-02-01T00", "h")


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    hour = np.arange(HOURS)[:, None]
    level = 12 + 8 * rng.random(N)[None, :] + 40 * np.exp(-0.5 * ((hour - 100) / 15) ** 2)
    outdoor = level * (1 + 0.3 * np.sin(2 * np.pi * (hour + 9) / 24))
    config = IndoorConfig(seed=11)
    truth = population_indoor(config, outdoor, 0, 0) / outdoor
    per_district = np.full(N, 60)  # 18 in manual mode: above k
    per_district[0] = 5  # too few homes to be shown on their own
    district = np.repeat(np.arange(N), per_district)
    homes = make_homes(config, district, N, rng, owners=True)
    home = np.repeat(np.arange(homes.count), HOURS // 3)
    when = np.tile(np.arange(0, HOURS, 3), homes.count) + rng.integers(0, 3, home.size)
    d = homes.district[home]
    state = indoor_state(
        homes, home, when % 24, when // 24, outdoor[when, d], outdoor[when, d], rng
    )
    readings = PurifierReadings(
        hour=START.astype(np.int64) + when,
        district=d,
        indoor=np.round(state.pm25, 1),
        on=state.on,
        auto=homes.auto[home],
        home=home,
    )
    return outdoor, truth, readings


def test_the_peoples_indoor_ratio_is_recovered_without_bias(world):
    outdoor, truth, readings = world
    model = fit_indoor(readings, outdoor, START, ownership=0.6)
    ratio = model.ratio(outdoor, START)
    assert ratio.mean() == pytest.approx(truth.mean(), rel=0.03)
    assert np.abs(ratio - truth).mean() / truth.mean() < 0.15
    assert model.readings == readings.count
    # worse air: purifiers run more, the ratio falls
    episode = outdoor.mean(axis=1) > np.quantile(outdoor.mean(axis=1), 0.9)
    assert ratio[episode].mean() < ratio[~episode].mean()


def test_auto_mode_purifiers_would_bias_the_infiltration_low(world):
    outdoor, truth, readings = world
    as_if_manual = PurifierReadings(
        readings.hour,
        readings.district,
        readings.indoor,
        readings.on,
        np.zeros_like(readings.auto),
        readings.home,
    )
    naive = fit_indoor(as_if_manual, outdoor, START).ratio(outdoor, START)
    chosen = fit_indoor(readings, outdoor, START).ratio(outdoor, START)
    assert naive.mean() < 0.985 * truth.mean()
    assert abs(chosen.mean() - truth.mean()) < 0.5 * abs(naive.mean() - truth.mean())


def test_a_district_with_few_homes_shows_the_national_mean(world):
    outdoor, _, readings = world
    model = fit_indoor(readings, outdoor, START)

    def tripled(district: int) -> np.ndarray:
        indoor = np.where(readings.district == district, 3 * readings.indoor, readings.indoor)
        changed = PurifierReadings(
            readings.hour, readings.district, indoor, readings.on, readings.auto, readings.home
        )
        return fit_indoor(changed, outdoor, START).infiltration

    # five homes: their own air does not show (only through the national mean)
    assert tripled(0)[0] == pytest.approx(model.infiltration[0], rel=0.01)
    counts = np.array(
        [np.unique(readings.home[(readings.district == d) & ~readings.auto]).size for d in range(5)]
    )
    enough = int(np.flatnonzero(counts >= 20)[0])  # a district of many manual purifiers
    assert tripled(enough)[enough] > 2 * model.infiltration[enough]
    without = fit_indoor(readings, outdoor, START + np.timedelta64(10_000, "h"))
    assert without.readings == 0 and (without.infiltration == 0.55).all()
