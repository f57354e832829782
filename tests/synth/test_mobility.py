"""The gravity commuting model: truth matrix by brute force, subscribers and events against it."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import stats

from tests.synth.conftest import BASE

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def gravity(sigungu) -> tuple[np.ndarray, np.ndarray]:
    """(usual-day-region matrix, distances) of the default mobility config, pair by pair."""
    stay, d0 = BASE.mobility.stay_home, BASE.mobility.d0_km
    lat, lon = sigungu["centroid_lat"].tolist(), sigungu["centroid_lon"].tolist()
    pop = sigungu["population"].tolist()
    n = len(pop)
    distance = np.zeros((n, n))
    matrix = np.zeros((n, n))
    for i in range(n):
        weights = []
        for j in range(n):
            distance[i, j] = haversine_km(lat[i], lon[i], lat[j], lon[j])
            weights.append(0.0 if i == j else pop[j] * math.exp(-distance[i, j] / d0))
        total = math.fsum(weights)
        for j in range(n):
            matrix[i, j] = stay if i == j else (1 - stay) * weights[j] / total
    return matrix, distance


@pytest.fixture(scope="module")
def truth_matrix(base, sigungu) -> dict[str, np.ndarray]:
    table = base.truth("mobility")
    codes = sigungu["code"].tolist()
    n = len(codes)
    assert table["origin"].tolist() == [c for c in codes for _ in range(n)]
    assert table["dest"].tolist() == codes * n
    return {
        name: table[name].to_numpy().reshape(n, n)
        for name in ("usual_share", "weekday_share", "weekend_share")
    }


def test_truth_matrix_is_the_gravity_model(truth_matrix, gravity):
    usual = truth_matrix["usual_share"]
    np.testing.assert_allclose(usual.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(usual), BASE.mobility.stay_home, atol=1e-12)
    np.testing.assert_allclose(usual, gravity[0], rtol=1e-9, atol=1e-15)


def test_daily_matrices_apply_the_commute_probability(truth_matrix):
    usual = truth_matrix["usual_share"]
    off = ~np.eye(len(usual), dtype=bool)
    for name, p in (
        ("weekday_share", BASE.mobility.weekday_commute),
        ("weekend_share", BASE.mobility.weekend_commute),
    ):
        daily = truth_matrix[name]
        np.testing.assert_allclose(daily.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(daily[off], p * usual[off], rtol=1e-12)
        np.testing.assert_allclose(np.diag(daily), 1 - p * (1 - np.diag(usual)), rtol=1e-12)


def test_subscribers_day_regions_follow_the_matrix(base, sigungu, gravity):
    """Home -> usual day region of every subscriber vs the brute-force matrix: share staying home
    (binomial) and a chi-square over distance bands of the commute."""
    matrix, distance = gravity
    index = {code: k for k, code in enumerate(sigungu["code"])}
    subs = base.truth("subscribers")
    home = subs["home_region"].map(index).to_numpy()
    day = subs["day_region"].map(index).to_numpy()
    n = len(subs)
    stay = BASE.mobility.stay_home
    stayed = int((home == day).sum())
    assert abs(stayed - n * stay) < 4 * math.sqrt(n * stay * (1 - stay))

    edges = [0.0, 1e-9, 10.0, 20.0, 40.0, np.inf]  # band 0 is staying home
    band = np.digitize(distance, edges) - 1
    expected = np.zeros(len(edges) - 1)
    for b in range(len(expected)):
        expected[b] = (matrix * (band == b))[home].sum()
    observed = np.bincount(band[home, day], minlength=len(expected))
    assert observed.sum() == n
    keep = expected > 5
    assert keep.sum() >= 4
    result = stats.chisquare(observed[keep], expected[keep] * n / expected[keep].sum())
    assert result.pvalue > 1e-3, (observed, expected)


def test_events_put_commuters_in_their_day_region_on_schedule(base):
    """Night events (local 18-09) are at home; day events (local 09-18) of a commuter are all
    in the day region or all at home, with the weekday / weekend commute probability."""
    e = base.clean_events
    local_hour = (e["t"].dt.hour + 9) % 24
    daytime = (local_hour >= 9) & (local_hour < 18)
    assert (e.loc[~daytime, "region_code"] == e.loc[~daytime, "home_region"]).all()
    stayers = daytime & (e["home_region"] == e["day_region"])
    assert (e.loc[stayers, "region_code"] == e.loc[stayers, "home_region"]).all()

    commuters = e[daytime & (e["home_region"] != e["day_region"])].copy()
    commuters["away"] = commuters["region_code"] == commuters["day_region"]
    at_home = commuters["region_code"] == commuters["home_region"]
    assert (commuters["away"] | at_home).all()
    per_day = commuters.groupby(["subscriber_id", "file_date"])["away"].agg(["min", "max"])
    assert (per_day["min"] == per_day["max"]).all()  # all or nothing per day
    dates = per_day.index.get_level_values("file_date")
    weekend = np.array([date.fromisoformat(d).weekday() >= 5 for d in dates])
    for is_weekend, p in (
        (False, BASE.mobility.weekday_commute),
        (True, BASE.mobility.weekend_commute),
    ):
        went = per_day.loc[weekend == is_weekend, "max"]
        assert len(went) > 300
        assert abs(went.mean() - p) < 4 * math.sqrt(p * (1 - p) / len(went)) + 1e-9


def test_events_use_the_usual_cell_with_the_anchor_probability(base):
    """A subscriber's usual night cell is their most frequent one; about ``anchor_probability``
    of night events (plus chance hits of a random cell of the region) are on it."""
    e = base.clean_events
    night = e[((e["t"].dt.hour + 9) % 24 >= 18) | ((e["t"].dt.hour + 9) % 24 < 9)]
    cells = base.truth("cells")
    per_region = cells.groupby(["carrier", "region_code"]).size()
    mode_share = night.groupby(["carrier", "subscriber_id"])["cell_id"].agg(
        lambda s: s.value_counts().iloc[0]
    ).sum() / len(night)
    a = BASE.mobility.anchor_probability
    # expected share on the usual cell: a + (1 - a) / cells_in_home_region
    chance = (1 - a) / per_region.loc[
        list(zip(night["carrier"], night["home_region"], strict=True))
    ]
    expected = a + chance.mean()
    assert abs(mode_share - expected) < 0.02


@pytest.mark.parametrize("d0_km", [0.05, 0.2, 1.0, 500.0])
def test_gravity_rows_stay_finite_for_any_distance_scale(d0_km, sigungu):
    """A tiny ``d0_km`` sends every commuter of a remote island to its nearest region rather than
    underflowing the whole row to 0 / 0."""
    from spreadwatch.synth.config import MobilityConfig
    from spreadwatch.synth.geography import Geography, commuting_matrix

    geo = Geography.load()
    matrix = commuting_matrix(geo, MobilityConfig(d0_km=d0_km))
    assert np.isfinite(matrix).all()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    if d0_km <= 0.2:
        ulleung = geo.index_of("37430")
        off = matrix[ulleung].copy()
        off[ulleung] = 0
        nearest = np.argsort(geo.distance_km[ulleung])[1]
        assert off.argmax() == nearest
