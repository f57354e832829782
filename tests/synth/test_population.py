"""Carriers, subscribers and cells against independent truth."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import shapely

from spreadwatch import regions
from spreadwatch.synth.messy import SEA_JITTER_DEG, SEA_POINTS
from tests.synth.conftest import BASE, read_csv

ID_FORMATS = {
    "SKT": re.compile(r"skt:[0-9a-f]{16}"),
    "KT": re.compile(r"45008[0-9]{10}"),
    "LGU": re.compile(r"LGU[0-9A-F]{16}"),
}


def hamilton(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split with exact rational arithmetic; ties go to the earlier name."""
    exact = {k: Fraction(v) / Fraction(sum(shares.values())) * total for k, v in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}  # floor: values are non-negative
    left = total - sum(counts.values())
    by_remainder = sorted(shares, key=lambda k: (-(exact[k] - counts[k]), list(shares).index(k)))
    for k in by_remainder[:left]:
        counts[k] += 1
    return counts


def test_subscribers_split_by_market_share(base):
    subs = base.truth("subscribers")
    counts = subs["carrier"].value_counts().to_dict()
    expected = hamilton(BASE.subscribers, BASE.carriers)
    assert counts == expected
    assert base.manifest.subscribers_by_carrier == expected
    assert sum(counts.values()) == BASE.subscribers
    for carrier, share in BASE.carriers.items():
        assert abs(counts[carrier] - share * BASE.subscribers) < 1


def test_subscriber_ids_are_unique_and_in_the_carrier_format(base):
    subs = base.truth("subscribers")
    assert not subs.duplicated(["carrier", "subscriber_id"]).any()
    assert subs["subscriber_id"].is_unique  # formats differ, so unique across carriers too
    for carrier, pattern in ID_FORMATS.items():
        ids = subs.loc[subs["carrier"] == carrier, "subscriber_id"]
        assert ids.map(pattern.fullmatch).notna().all(), carrier
    # every identified subscriber in the raw events is a real one of that carrier
    events = base.events[base.events["subscriber_id"] != ""]
    known = set(zip(subs["carrier"], subs["subscriber_id"], strict=True))
    seen = set(zip(events["carrier"], events["subscriber_id"], strict=True))
    assert seen <= known
    assert len(seen) > 0.95 * len(known)
    assert (events["carrier"] == events["file_carrier"]).all()


def test_homes_follow_population(base, sigungu):
    """Chi-square of subscribers' homes by province (sido) against census population shares."""
    from scipy import stats

    subs = base.truth("subscribers")
    sido = sigungu.groupby("sido_code")["population"].sum()
    observed = subs["home_region"].str[:2].value_counts().reindex(sido.index, fill_value=0)
    expected = sido / sido.sum() * len(subs)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_cells_are_placed_by_population(base, sigungu):
    cells = base.truth("cells")
    per_10k = BASE.cells_per_10k_people
    for carrier in BASE.carriers:
        mine = cells[cells["carrier"] == carrier]
        count = mine["region_code"].value_counts().reindex(sigungu["code"], fill_value=0)
        expected = [max(1, round(p / 10_000 * per_10k)) for p in sigungu["population"]]
        assert count.tolist() == expected, carrier
        assert np.corrcoef(count.to_numpy(), sigungu["population"])[0, 1] > 0.99
        assert mine["cell_id"].is_unique
        assert base.manifest.cells_by_carrier[carrier] == len(mine)


def test_cells_csv_matches_truth_and_clean_cells_lie_in_their_region(base, sigungu):
    header, _ = read_csv(base.root / "raw" / "cells.csv")
    assert header == ["carrier", "cell_id", "lat", "lon"]
    raw = base.cells_raw
    truth = base.truth("cells")
    assert raw["carrier"].tolist() == truth["carrier"].tolist()
    assert raw["cell_id"].tolist() == truth["cell_id"].tolist()
    for carrier in BASE.carriers:
        ids = raw.loc[raw["carrier"] == carrier, "cell_id"]
        assert ids.str.fullmatch(rf"{carrier}-[0-9]{{6,}}").all()

    clean = truth["defect"] == ""
    assert (raw.loc[clean, "lat"].to_numpy() == truth.loc[clean, "lat"].to_numpy()).all()
    assert (raw.loc[clean, "lon"].to_numpy() == truth.loc[clean, "lon"].to_numpy()).all()
    polygons = sigungu.set_index("code")["geometry"]
    geometry = polygons.loc[truth.loc[clean, "region_code"]].to_numpy()
    inside = shapely.contains_xy(geometry, raw.loc[clean, "lon"], raw.loc[clean, "lat"])
    assert inside.all()
    located = regions.locate(raw.loc[clean, "lat"].to_numpy(), raw.loc[clean, "lon"].to_numpy())
    assert (located == truth.loc[clean, "region_code"].to_numpy()).all()


def test_bad_cell_coordinates_are_outside_korea_and_counted(base):
    raw, truth = base.cells_raw, base.truth("cells")
    bad = truth["defect"] != ""
    assert bad.sum() == base.manifest.messy["bad_cell_coords"]
    assert bad.sum() == max(1, round(BASE.messy_fraction * len(truth)))
    located = regions.locate(raw["lat"].to_numpy(), raw["lon"].to_numpy())
    outside = np.array([code is None for code in located])
    assert (outside == bad.to_numpy()).all()  # exactly the defective cells are outside Korea
    kinds = truth.loc[bad, "defect"]
    r, t = raw[bad], truth[bad]
    swapped = kinds == "cell_swapped_coords"
    assert (r.loc[swapped, "lat"].to_numpy() == t.loc[swapped, "lon"].to_numpy()).all()
    assert (r.loc[swapped, "lon"].to_numpy() == t.loc[swapped, "lat"].to_numpy()).all()
    zero = kinds == "cell_zero_coords"
    assert ((r.loc[zero, "lat"] == 0) & (r.loc[zero, "lon"] == 0)).all()
    sea = (kinds == "cell_at_sea").to_numpy()
    points = r[["lat", "lon"]].to_numpy()[sea]
    nearest = np.abs(points[:, None, :] - SEA_POINTS[None, :, :]).max(axis=2).min(axis=1)
    assert (nearest <= SEA_JITTER_DEG + 1e-9).all()
    assert (swapped | zero | sea).all()
    detail = base.manifest.messy_detail["cells"]
    assert detail == {k: int((kinds == k).sum()) for k in detail}


def test_sea_points_are_outside_every_region():
    offsets = np.linspace(-SEA_JITTER_DEG, SEA_JITTER_DEG, 41)
    lat = (SEA_POINTS[:, 0, None, None] + offsets[None, :, None]).repeat(41, axis=2).ravel()
    lon = (SEA_POINTS[:, 1, None, None] + offsets[None, None, :]).repeat(41, axis=1).ravel()
    assert all(code is None for code in regions.locate(lat, lon))


def test_split_by_share_is_the_largest_remainder_method():
    import random

    from spreadwatch.synth.population import split_by_share

    rng = random.Random(7)
    for _ in range(300):
        names = [f"C{k}" for k in range(rng.randint(1, 6))]
        raw = {n: rng.choice([0.0, rng.random(), 1.0]) for n in names}
        if sum(raw.values()) == 0:
            raw[names[0]] = 1.0
        total = sum(raw.values())
        shares = {n: w / total for n, w in raw.items()}
        subscribers = rng.choice([1, 7, 100, 4001, 123_457])
        got = split_by_share(subscribers, shares)
        assert sum(got.values()) == subscribers
        assert got == hamilton(subscribers, shares)
