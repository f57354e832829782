"""Indoor fine dust in homes, with and without an air purifier: the synthetic truth of
what people breathe indoors and what the purifiers report.

A home lets in a share of the outdoor dust, its **infiltration factor** (0.55 on average in
the districts' mean, varying by district and, log-normally, by home; coarse PM10 gets in a
third less), and adds its own: **cooking** at the local meal hours (07, 12, 18, 19 KST) in
some homes, up to 25 ug/m3 for the hour. A share of homes (``ownership``) runs a purifier:

* in **auto** mode (``auto_share`` of owners) it switches on when its sensor would read above
  15 ug/m3 without it and picks its fan speed by that reading (sleep below 15, low to 35, mid
  to 75, high above);
* in **manual** mode it runs at mid speed in the local evening (18-23 KST) and whenever the
  outdoor air is bad (above 35 ug/m3).

A running purifier removes 35/50/65/80% of the dust (sleep/low/mid/high), less as its
filter wears: efficiency times ``0.5 + 0.5 * filter_life / 100``; filters lose half a
percentage point a day. Indoor PM2.5 = infiltration x outdoor x (1 - removal) + cooking.

:func:`population_indoor` gives the truth for a district's people (a Monte Carlo sample of
its homes, owners and not); :func:`purifier_states` what a sample of purifiers reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadwatch.synth.events import UTC_OFFSET_HOURS

#: Removal at each fan speed, 1 sleep .. 4 high (0: auto, as reported).
FAN_REMOVAL = np.array([0.0, 0.35, 0.50, 0.65, 0.80])
FAN_AUTO, FAN_MID = 0, 3
_AUTO_SPEEDS = np.array([15.0, 35.0, 75.0])  # readings where auto mode steps up a speed
_AUTO_ON = 15.0
_MANUAL_BAD_OUTDOOR = 35.0
_EVENING_KST = (18, 23)
_MEAL_HOURS_KST = np.array([7, 12, 18, 19])
_COOKING_SHARE = 0.3
_COOKING_MAX = 25.0
_PM10_INFILTRATION = 2 / 3
_FILTER_WEAR_PER_DAY = 0.5
HOMES_PER_DISTRICT = 50


@dataclass(frozen=True)
class IndoorConfig:
    """The indoor model's parameters (see the module doc)."""

    ownership: float = 0.6
    infiltration: float = 0.55
    district_sd: float = 0.12
    home_sd: float = 0.2
    auto_share: float = 0.7
    seed: int = 3


@dataclass(frozen=True, eq=False)
class Homes:
    """Homes as parallel arrays."""

    district: np.ndarray
    infiltration: np.ndarray
    owner: np.ndarray  # bool: runs a purifier
    auto: np.ndarray  # bool: in auto mode
    filter_life: np.ndarray  # percent on day 0

    @property
    def count(self) -> int:
        return len(self.district)


def district_infiltration(config: IndoorConfig, n_districts: int) -> np.ndarray:
    """Per district, its homes' mean infiltration factor."""
    rng = np.random.default_rng([config.seed, 0])
    spread = np.exp(rng.normal(0, config.district_sd, n_districts) - config.district_sd**2 / 2)
    return np.clip(config.infiltration * spread, 0.25, 0.9)


def make_homes(
    config: IndoorConfig,
    district: np.ndarray,
    n_districts: int,
    rng: np.random.Generator,
    owners: bool | None = None,
) -> Homes:
    """Homes in ``district`` (an index among ``n_districts`` each); ``owners`` True makes
    every home a purifier owner (the platform's purifiers), ``None`` draws ownership."""
    n = district.size
    mean = district_infiltration(config, n_districts)[district]
    home = np.exp(rng.normal(0, config.home_sd, n) - config.home_sd**2 / 2)
    owner = rng.random(n) < config.ownership if owners is None else np.full(n, owners)
    return Homes(
        district=district,
        infiltration=np.clip(mean * home, 0.1, 1.0),
        owner=owner,
        auto=rng.random(n) < config.auto_share,
        filter_life=rng.uniform(10.0, 100.0, n),
    )


@dataclass(frozen=True, eq=False)
class IndoorState:
    """What the homes' air and purifiers are at given hours, arrays of one shape."""

    pm25: np.ndarray
    pm10: np.ndarray
    on: np.ndarray  # bool
    fan_mode: np.ndarray  # 0 auto, 1-4 sleep..high (as set); meaningful where ``on``
    filter_life: np.ndarray


def indoor_state(
    homes: Homes,
    rows: np.ndarray,
    utc_hour: np.ndarray,
    day: np.ndarray,
    outdoor_pm25: np.ndarray,
    outdoor_pm10: np.ndarray,
    rng: np.random.Generator,
) -> IndoorState:
    """The state of homes ``rows`` at hours ``utc_hour`` (of the day, UTC) of days ``day``
    (since the start), given the outdoor concentrations there and then (same shapes)."""
    local = (utc_hour + UTC_OFFSET_HOURS) % 24
    f = homes.infiltration[rows]
    unfiltered = f * outdoor_pm25
    cooking = np.where(
        np.isin(local, _MEAL_HOURS_KST) & (rng.random(rows.shape) < _COOKING_SHARE),
        rng.uniform(0.0, _COOKING_MAX, rows.shape),
        0.0,
    )
    sensed = unfiltered + cooking  # what the sensor reads with the purifier off
    auto = homes.auto[rows]
    evening = (local >= _EVENING_KST[0]) & (local < _EVENING_KST[1])
    on = homes.owner[rows] & np.where(
        auto, sensed > _AUTO_ON, evening | (outdoor_pm25 > _MANUAL_BAD_OUTDOOR)
    )
    speed = np.where(auto, 1 + np.searchsorted(_AUTO_SPEEDS, sensed), FAN_MID)
    life = np.clip(homes.filter_life[rows] - _FILTER_WEAR_PER_DAY * day, 0.0, 100.0)
    removal = np.where(on, FAN_REMOVAL[speed] * (0.5 + 0.5 * life / 100.0), 0.0)
    kept = 1.0 - removal
    return IndoorState(
        pm25=sensed * kept,
        pm10=(f * _PM10_INFILTRATION * outdoor_pm10 + 1.3 * cooking) * kept,
        on=on,
        fan_mode=np.where(auto, FAN_AUTO, speed),
        filter_life=life,
    )


def population_indoor(
    config: IndoorConfig,
    outdoor_pm25: np.ndarray,
    first_hour: int,
    start_hour_utc: int,
) -> np.ndarray:
    """The mean indoor PM2.5 of each district's homes, ``(hours, districts)`` like
    ``outdoor_pm25`` (hours from ``first_hour`` since the start, which is ``start_hour_utc``
    o'clock UTC): a sample of :data:`HOMES_PER_DISTRICT` homes per district, owners and not."""
    hours, n = outdoor_pm25.shape
    district = np.repeat(np.arange(n), HOMES_PER_DISTRICT)
    homes = make_homes(config, district, n, np.random.default_rng([config.seed, 1]))
    rng = np.random.default_rng([config.seed, 2, first_hour])
    rows = np.broadcast_to(np.arange(homes.count), (hours, homes.count))
    since = first_hour + np.arange(hours)[:, None] + np.zeros((1, homes.count), int)
    state = indoor_state(
        homes,
        rows,
        (since + start_hour_utc) % 24,
        since // 24,
        outdoor_pm25[:, district],
        outdoor_pm25[:, district],  # PM10 is not needed for the PM2.5 truth
        rng,
    )
    return state.pm25.reshape(hours, n, HOMES_PER_DISTRICT).mean(axis=2)
