"""Home devices of two platforms in a sample of homes (thin but epidemic-aware).

Households are ``household_fraction`` of all subscribers' homes (region = the subscriber's home
region) or, with ``coverage``, that share of each region's real households, not linked to
subscribers; optionally only in ``regions``. Each has size ``1 + Poisson(1.4)``, is on one
platform drawn by share, with one device of each
kind its platform sells. A household is infected on the first day a Bernoulli with probability
``1 - (1 - new_infections_r / N_r) ** size`` succeeds (the true epidemic of its region); it is sick
(fever likely, people stay home) from ``latent_days`` to ``latent_days + infectious_days`` later.

Readings per device and day are Poisson at the kind's rate, at uniform times of the UTC day:

- ``presence`` 0/1: someone home; low on weekday daytime for commuters, high when sick
- ``body_temp`` degrees C: 36.6 +- 0.25, fever (~38.2) with probability 0.7 when sick, else 0.01;
  sick households measure more often
- ``pm25`` ug/m3: an air purifier's indoor reading. With a :class:`PurifierDay` (the synthetic
  dust and indoor model, :mod:`spreadwatch.synth.purifiers`) each reading is the purifier's
  state: ``pm25`` and ``pm10`` indoors, ``purifier_on`` 0/1, ``fan_mode`` while on (0 auto,
  1 sleep, 2 low, 3 mid, 4 high) and, with the day's first reading, ``filter_life`` (percent
  left); without, log-normal around 20 with a region-day effect
- ``appliance_on`` 0/1

``consent`` is false for ``no_consent_fraction`` of households (all their rows).

A household made from a subscriber's home has that subscriber as its one registered member
(``household_members``: the platform account's mobile subscription); households drawn with
``coverage`` have none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadwatch.synth import ids
from spreadwatch.synth.config import DEFAULT_READINGS_PER_DAY, EpidemicConfig, TelemetryConfig
from spreadwatch.synth.events import UTC_OFFSET_HOURS, is_daytime
from spreadwatch.synth.population import CarrierSubscribers
from spreadwatch.synth.purifiers import Homes, indoor_state

COLUMNS = ("platform", "device_id", "household_id", "ts", "kind", "value", "consent")
#: The kinds of device a home may have, each named by its main reading.
KINDS = ("presence", "body_temp", "pm25", "appliance_on")
#: Every reading kind: the devices' main ones, then a purifier's state.
PURIFIER_KINDS = ("pm10", "purifier_on", "fan_mode", "filter_life")
READING_KINDS = (*KINDS, *PURIFIER_KINDS)
#: Per reading kind, the index of the device kind that reports it.
_DEVICE_OF = np.array([*range(len(KINDS)), *[KINDS.index("pm25")] * len(PURIFIER_KINDS)])
# Device kinds each platform sells (others get all kinds) and readings per device per day.
PLATFORM_KINDS: dict[str, tuple[str, ...]] = {
    "thinq": ("pm25", "appliance_on", "body_temp"),
    "gigagenie": ("presence", "body_temp"),
}
READINGS_PER_DAY = DEFAULT_READINGS_PER_DAY
SICK_BODY_TEMP_READINGS = 3.0
#: People per household in Korea's 2020 census (2.34), rounded.
PEOPLE_PER_HOUSEHOLD = 2.4
FEVER_PROBABILITY_SICK = 0.7
FEVER_PROBABILITY_WELL = 0.01


@dataclass(frozen=True, eq=False)
class Households:
    """Households with devices, as parallel arrays (position = household index)."""

    platforms: tuple[str, ...]
    platform: np.ndarray  # index into ``platforms``
    household_id: pa.StringArray
    carrier: np.ndarray  # object array: carrier of the subscriber whose home it is
    subscriber_id: pa.StringArray
    region: np.ndarray  # home region index
    size: np.ndarray
    consent: np.ndarray  # bool
    commuter: np.ndarray  # bool: the subscriber usually spends the day elsewhere
    has_device: np.ndarray  # bool (len(KINDS), households)
    device_id: pa.StringArray  # id of kind k in household h at k * households + h
    infected_day: np.ndarray  # day index of infection, -1 if never in the window

    @property
    def count(self) -> int:
        return len(self.region)


def _prefixes(names: list[str], what: str) -> np.ndarray:
    """Fixed-width id prefixes per platform, e.g. ``THH-`` (thinq household), ``GID-``."""
    return np.array([f"{n[:2].upper().ljust(2, 'X')}{what}-" for n in names], dtype="S4")


def make_households(
    config: TelemetryConfig,
    subscribers: list[CarrierSubscribers],
    rng: np.random.Generator,
    population: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> Households:
    """Equip households: ``household_fraction`` of each carrier's subscribers' homes or, with
    ``coverage``, that share of every region's real households (``population`` by region
    index / :data:`PEOPLE_PER_HOUSEHOLD`), commuting at the region's subscribers' rate. Only
    regions whose code (``codes``) starts with one of ``config.regions`` get devices."""
    if config.coverage is not None:
        if population is None:
            raise ValueError("telemetry coverage needs the regions' population")
        counts = np.rint(config.coverage * population / PEOPLE_PER_HOUSEHOLD).astype(np.int64)
        counts[~_installed(config, codes, len(population))] = 0
        region = np.repeat(np.arange(len(population)), counts)
        rate = _commuter_share(subscribers, len(population))
        owners = {
            "carrier": np.full(region.size, None, dtype=object),
            "subscriber_id": pa.nulls(region.size, pa.string()),
            "region": region,
            "commuter": rng.random(region.size) < rate[region],
        }
    else:
        chosen = [
            np.sort(
                rng.choice(s.size, size=round(config.household_fraction * s.size), replace=False)
            )
            for s in subscribers
        ]
        pairs = list(zip(subscribers, chosen, strict=True))
        owners = {
            "carrier": np.concatenate([np.full(c.size, s.carrier, dtype=object) for s, c in pairs]),
            "subscriber_id": pa.concat_arrays([s.ids.take(c) for s, c in pairs]),
            "region": np.concatenate([s.home[c] for s, c in pairs]),
            "commuter": np.concatenate([s.commuter[c] for s, c in pairs]),
        }
        if config.regions:
            keep = _installed(config, codes, int(owners["region"].max(initial=0)) + 1)
            rows = np.flatnonzero(keep[owners["region"]])
            owners = {k: v.take(rows) for k, v in owners.items()}
    n = owners["region"].size
    names = list(config.platforms)
    platform = rng.choice(len(names), size=n, p=list(config.platforms.values()))
    sells = np.array([[k in PLATFORM_KINDS.get(p, KINDS) for p in names] for k in KINDS])
    devices = np.tile(_prefixes(names, "D")[platform], len(KINDS))
    return Households(
        platforms=tuple(names),
        platform=platform,
        household_id=ids.opaque(_prefixes(names, "H")[platform], n, rng),
        carrier=owners["carrier"],
        subscriber_id=owners["subscriber_id"],
        region=owners["region"],
        size=1 + rng.poisson(1.4, n),
        consent=rng.random(n) >= config.no_consent_fraction,
        commuter=owners["commuter"],
        has_device=sells[:, platform],
        device_id=ids.opaque(devices, devices.size, rng),
        infected_day=np.full(n, -1, dtype=np.int64),
    )


def _installed(config: TelemetryConfig, codes: np.ndarray | None, n: int) -> np.ndarray:
    """Per region index: whether devices are installed there (``config.regions`` prefixes)."""
    if not config.regions:
        return np.ones(n, dtype=bool)
    if codes is None:
        raise ValueError("telemetry regions need the region codes")
    prefixes = tuple(config.regions)
    return np.array([str(code).startswith(prefixes) for code in codes[:n]], dtype=bool)


def _commuter_share(subscribers: list[CarrierSubscribers], n: int) -> np.ndarray:
    """Per home region, the share of subscribers who commute (0.5 where none live)."""
    homes = np.concatenate([s.home for s in subscribers])
    commuters = np.concatenate([s.commuter for s in subscribers]).astype(float)
    people = np.bincount(homes, minlength=n)
    share = np.bincount(homes, weights=commuters, minlength=n)
    return np.where(people > 0, share / np.maximum(people, 1), 0.5)


def infect(
    households: Households,
    new_infections: np.ndarray,
    population: np.ndarray,
    rng: np.random.Generator,
) -> Households:
    """Households with ``infected_day`` drawn from the true epidemic (a pass per day)."""
    infected = np.full(households.count, -1, dtype=np.int64)
    for d, incidence in enumerate(new_infections):
        risk = incidence[households.region] / population[households.region]
        p = 1.0 - (1.0 - risk) ** households.size
        infected[(infected < 0) & (rng.random(infected.size) < p)] = d
    return replace(households, infected_day=infected)


def sick_on(households: Households, day: int, epidemic: EpidemicConfig) -> np.ndarray:
    """Households with a sick member on ``day``."""
    since = day - households.infected_day
    start = round(epidemic.latent_days)
    end = start + round(epidemic.infectious_days)
    return (households.infected_day >= 0) & (since >= start) & (since < end)


@dataclass(frozen=True, eq=False)
class PurifierDay:
    """What the purifiers' readings of a day are made of: each household's purifier home
    (``homes``, row = household index) and the day's outdoor PM2.5 and PM10 by UTC hour and
    region, ``(24, regions)``."""

    homes: Homes
    outdoor_pm25: np.ndarray
    outdoor_pm10: np.ndarray


def _purifier_readings(
    households: Households,
    home: np.ndarray,
    second: np.ndarray,
    day: int,
    purifiers: PurifierDay,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(home, second, value, reading kind)`` of the purifier states read at ``second``."""
    hour = second // 3600
    region = households.region[home]
    state = indoor_state(
        purifiers.homes,
        home,
        hour,
        np.full(home.size, day),
        purifiers.outdoor_pm25[hour, region],
        purifiers.outdoor_pm10[hour, region],
        rng,
    )
    first = np.ones(home.size, dtype=bool)
    order = np.lexsort((second, home))
    first[order[1:]] = home[order[1:]] != home[order[:-1]]
    parts = [
        ("pm25", np.ones(home.size, bool), np.round(state.pm25, 1)),
        ("pm10", np.ones(home.size, bool), np.round(state.pm10, 1)),
        ("purifier_on", np.ones(home.size, bool), state.on.astype(float)),
        ("fan_mode", state.on, state.fan_mode.astype(float)),
        ("filter_life", first, np.round(state.filter_life)),
    ]
    rows = [np.flatnonzero(where) for _, where, _ in parts]
    return (
        np.concatenate([home[r] for r in rows]),
        np.concatenate([second[r] for r in rows]),
        np.concatenate([v[r] for (_, _, v), r in zip(parts, rows, strict=True)]),
        np.concatenate(
            [
                np.full(r.size, READING_KINDS.index(k))
                for (k, _, _), r in zip(parts, rows, strict=True)
            ]
        ),
    )


def day_readings(
    households: Households,
    n_regions: int,
    day: int,
    local_date: date,
    day_start: int,
    epidemic: EpidemicConfig,
    rng: np.random.Generator,
    rates: dict[str, float] | None = None,
    purifiers: PurifierDay | None = None,
) -> dict[str, pa.Table]:
    """All readings of one UTC day, one table per platform, ordered by time (``rates``: mean
    readings per device and day by kind, default :data:`READINGS_PER_DAY`; ``purifiers``:
    the air purifiers' states instead of log-normal ``pm25`` readings)."""
    rates = READINGS_PER_DAY if rates is None else rates
    sick = sick_on(households, day, epidemic)
    weekend = local_date.weekday() >= 5
    pm25_effect = rng.normal(0.0, 0.3, n_regions)
    homes, seconds, values, kinds = [], [], [], []
    for k, kind in enumerate(KINDS):
        rate = np.where(households.has_device[k], rates[kind], 0.0)
        if kind == "body_temp":
            rate = np.where(households.has_device[k] & sick, SICK_BODY_TEMP_READINGS, rate)
        home = np.repeat(np.arange(households.count), rng.poisson(rate))
        second = rng.integers(0, 86_400, home.size)
        n = home.size
        if kind == "presence":
            away = is_daytime(second) & households.commuter[home] & (not weekend)
            p = np.where(is_daytime(second), 0.8, 0.95)
            p = np.where(sick[home], 0.97, np.where(away, 0.35, p))
            value = (rng.random(n) < p).astype(float)
        elif kind == "body_temp":
            p = np.where(sick[home], FEVER_PROBABILITY_SICK, FEVER_PROBABILITY_WELL)
            fever = rng.random(n) < p
            value = np.round(
                np.where(fever, rng.normal(38.2, 0.4, n), rng.normal(36.6, 0.25, n)), 1
            )
        elif kind == "pm25" and purifiers is not None:
            home, second, value, kind_of = _purifier_readings(
                households, home, second, day, purifiers, rng
            )
            homes.append(home)
            seconds.append(second)
            values.append(value)
            kinds.append(kind_of)
            continue
        elif kind == "pm25":
            mean = np.log(20.0) + pm25_effect[households.region[home]]
            value = np.round(np.exp(rng.normal(mean, 0.35)), 1)
        else:  # appliance_on: more use in the local evening and at weekends
            local_hour = (second // 3600 + UTC_OFFSET_HOURS) % 24
            p = np.where((local_hour >= 18) & (local_hour < 23), 0.5, 0.2) + 0.1 * weekend
            value = (rng.random(n) < p).astype(float)
        homes.append(home)
        seconds.append(second)
        values.append(value)
        kinds.append(np.full(n, k))
    home, second, value, kind = map(np.concatenate, (homes, seconds, values, kinds))
    order = np.lexsort((kind, home, second))
    home, second, value, kind = home[order], second[order], value[order], kind[order]
    out = {}
    for p, name in enumerate(households.platforms):
        rows = np.flatnonzero(households.platform[home] == p)
        h = home[rows]
        out[name] = pa.table(
            {
                "platform": pa.array([name]).take(np.zeros(rows.size, dtype=np.int32)),
                "device_id": households.device_id.take(
                    _DEVICE_OF[kind[rows]] * households.count + h
                ),
                "household_id": households.household_id.take(h),
                "ts": pa.array(day_start + second[rows], pa.timestamp("s", tz="UTC")),
                "kind": pa.array(READING_KINDS).take(kind[rows]),
                "value": pa.array(value[rows], pa.float64()),
                "consent": pa.array(households.consent[h], pa.bool_()),
            }
        )
    return out


REGISTRY_COLUMNS = ("platform", "household_id", "region_code", "consent")


def registry_table(households: Households, codes: np.ndarray) -> pa.Table:
    """What each platform knows of its households: the registered home si-gun-gu and consent."""
    return pa.table(
        {
            "platform": pa.array(households.platforms).take(households.platform),
            "household_id": households.household_id,
            "region_code": pa.array(codes[households.region], pa.string()),
            "consent": households.consent,
        }
    )


MEMBER_COLUMNS = ("platform", "household_id", "carrier", "subscriber_id")


def members_table(households: Households) -> pa.Table:
    """The mobile subscriptions registered with each platform account: the subscriber whose
    home it is (no rows when households are not subscribers' homes, with ``coverage``)."""
    linked = pc.is_valid(households.subscriber_id).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(linked)
    return pa.table(
        {
            "platform": pa.array(households.platforms, pa.string()).take(households.platform[rows]),
            "household_id": households.household_id.take(rows),
            "carrier": pa.array(households.carrier[rows], pa.string()),
            "subscriber_id": households.subscriber_id.take(rows),
        }
    )


def truth_table(households: Households, codes: np.ndarray, start: date) -> pa.Table:
    """Households with their platform, owner, region, size, consent and true infection date."""
    infected = households.infected_day
    days = np.datetime64(start, "D") + np.where(infected >= 0, infected, 0)
    return pa.table(
        {
            "platform": pa.array(households.platforms).take(households.platform),
            "household_id": households.household_id,
            "carrier": pa.array(households.carrier, pa.string()),
            "subscriber_id": households.subscriber_id,
            "home_region": pa.array(codes[households.region], pa.string()),
            "size": households.size,
            "consent": households.consent,
            "infected_date": pa.array(days, pa.date32(), mask=infected < 0),
        }
    )
