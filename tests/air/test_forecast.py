"""Next-24-hour PM2.5 forecasts against persistence on the synthetic truth."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from spreadwatch import regions
from spreadwatch.air.forecast import HORIZON_HOURS, AirForecaster, relative_wis
from spreadwatch.forecast.hub import QUANTILE_LEVELS
from spreadwatch.synth.dust import DustConfig, DustField
from spreadwatch.synth.geography import Geography

DAYS = 24
START = np.datetime64("2020-02-01T00", "h")


@pytest.fixture(scope="module")
def season():
    geo = Geography.load()
    areas = regions.load("sigungu").regions["area_km2"].to_numpy(float)
    config = DustConfig(start=datetime(2020, 2, 1), hours=DAYS * 24, episode_every_hours=110.0)
    truth, _ = DustField(config, geo, areas).district_means(np.arange(DAYS * 24), 4)
    rng = np.random.default_rng(3)
    field = truth * np.exp(rng.normal(0, 0.04, truth.shape))  # as kriged: a little off
    return truth, field


def test_the_forecast_beats_persistence_where_the_dust_moves(season):
    truth, field = season
    forecaster = AirForecaster(field, START)
    hours = truth.shape[0]
    origins = np.arange(hours - 7 * 24, hours - HORIZON_HOURS, 12)
    ours, persistence, ratio = relative_wis(forecaster, origins, truth)
    assert ratio < 0.85, (ours, persistence)


def test_the_latest_forecast_reads_as_a_forecast(season):
    _, field = season
    latest = AirForecaster(field[: 10 * 24], START).latest()
    assert latest.origin == START + np.timedelta64(10 * 24 - 1, "h")
    assert latest.quantiles.shape == (len(QUANTILE_LEVELS), HORIZON_HOURS, 229)
    assert (np.diff(latest.quantiles, axis=0) >= 0).all()  # quantiles do not cross
    assert (latest.quantiles > 0).all()
    first = latest.median[0]
    assert np.median(np.abs(np.log(first / field[10 * 24 - 1]))) < 0.15  # an hour ahead: close
    table = latest.table()
    assert table.num_rows == HORIZON_HOURS * 229
    assert {"origin", "ts", "horizon", "region_code", "median", "q0.05", "q0.95"} <= set(
        table.column_names
    )


def test_too_short_a_field_is_refused_with_what_it_needs(season):
    _, field = season
    with pytest.raises(ValueError, match="at least 49 hours"):
        AirForecaster(field[:30], START).latest()
