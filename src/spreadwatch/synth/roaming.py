"""International roaming: our subscribers abroad (outbound) and visitors in Korea (inbound).

A thin but consistent model. ``outbound_share`` of each carrier's subscribers start one trip at a
uniform time in the window: an ``outbound attach`` in the destination country, and an
``outbound detach`` when they come back (if that is inside the window); while abroad they make no
domestic location events. Visitors arrive as a Poisson stream, each with a 15-digit IMSI of a
home network of their country, attach to a Korean carrier (by market share) and detach when they
leave. Trip lengths are ``1 + NegBin`` days (mean ``trip_mean_days``) plus a few hours of jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from spreadwatch.synth import ids, strings
from spreadwatch.synth.config import RoamingConfig
from spreadwatch.synth.population import CarrierSubscribers

COLUMNS = ("carrier", "subscriber_id", "ts", "country", "event", "direction")
TRUTH_COLUMNS = ("direction", "carrier", "subscriber_id", "country", "start", "end")
SECONDS_PER_DAY = 86_400
_FALLBACK_NETWORK = "00101"  # ITU test network, for countries without a listed network
_TRIP_DISPERSION = 2.0


@dataclass(frozen=True, eq=False)
class Trips:
    """Stays abroad (outbound) or in Korea (inbound): who, where from/to, [start, end) seconds."""

    direction: str
    carrier: np.ndarray  # object array of carrier names
    subscriber_id: pa.StringArray
    country: np.ndarray  # object array of ISO alpha-3
    start: np.ndarray  # epoch seconds of the attach
    end: np.ndarray  # epoch seconds of the detach (may be after the window)
    subscriber: np.ndarray  # carrier-wide subscriber index (outbound), -1 for visitors

    @property
    def size(self) -> int:
        return len(self.start)

    def absence(self, carrier: str, block: slice, day_start: int) -> tuple[np.ndarray, np.ndarray]:
        """Per subscriber of ``block``: [from, to) seconds of the UTC day spent abroad."""
        n = block.stop - block.start
        away_from = np.zeros(n, dtype=np.int64)
        away_to = np.zeros(n, dtype=np.int64)
        hit = (
            (self.carrier == carrier)
            & (self.subscriber >= block.start)
            & (self.subscriber < block.stop)
            & (self.start < day_start + SECONDS_PER_DAY)
            & (self.end > day_start)
        )
        who = self.subscriber[hit] - block.start
        away_from[who] = np.maximum(self.start[hit] - day_start, 0)
        away_to[who] = np.minimum(self.end[hit] - day_start, SECONDS_PER_DAY)
        return away_from, away_to


def _durations(config: RoamingConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    extra_mean = config.trip_mean_days - 1.0
    p = _TRIP_DISPERSION / (_TRIP_DISPERSION + extra_mean)
    days = 1 + rng.negative_binomial(_TRIP_DISPERSION, p, n)
    return days * SECONDS_PER_DAY + rng.integers(-6 * 3600, 6 * 3600, n)


def _pick(weights: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``list(weights)`` drawn with the given probabilities."""
    return rng.choice(len(weights), size=n, p=np.array(list(weights.values())))


def _names(weights: dict[str, float]) -> np.ndarray:
    return np.array(list(weights), dtype=object)


def outbound_trips(
    config: RoamingConfig,
    subscribers: list[CarrierSubscribers],
    window: tuple[int, int],
    rng: np.random.Generator,
) -> Trips:
    """One trip for ``outbound_share`` of each carrier's subscribers, starting in ``window``."""
    carrier, who, sub_ids = [], [], []
    for subs in subscribers:
        k = round(config.outbound_share * subs.size)
        chosen = np.sort(rng.choice(subs.size, size=k, replace=False))
        carrier.append(np.full(chosen.size, subs.carrier, dtype=object))
        who.append(chosen)
        sub_ids.append(subs.ids.take(chosen))
    subscriber = np.concatenate(who)
    n = subscriber.size
    start = rng.integers(window[0], window[1], n)
    return Trips(
        direction="outbound",
        carrier=np.concatenate(carrier),
        subscriber_id=pa.concat_arrays(sub_ids) if sub_ids else pa.array([], pa.string()),
        country=_names(config.outbound_countries)[_pick(config.outbound_countries, n, rng)],
        start=start,
        end=start + _durations(config, n, rng),
        subscriber=subscriber,
    )


def inbound_visits(
    config: RoamingConfig,
    carriers: dict[str, float],
    n_subscribers: int,
    window: tuple[int, int],
    rng: np.random.Generator,
) -> Trips:
    """Visitors arriving during ``window`` at ``inbound_per_day_per_10k`` per 10k subscribers."""
    days = (window[1] - window[0]) / SECONDS_PER_DAY
    n = int(rng.poisson(config.inbound_per_day_per_10k * n_subscribers / 10_000 * days))
    country = _pick(config.inbound_countries, n, rng)
    networks = [ids.VISITOR_NETWORKS.get(c, _FALLBACK_NETWORK) for c in config.inbound_countries]
    network = np.array(networks, dtype="S5")[country]
    start = rng.integers(window[0], window[1], n)
    return Trips(
        direction="inbound",
        carrier=_names(carriers)[_pick(carriers, n, rng)],
        subscriber_id=ids.imsi(network, n, rng),
        country=_names(config.inbound_countries)[country],
        start=start,
        end=start + _durations(config, n, rng),
        subscriber=np.full(n, -1, dtype=np.int64),
    )


def to_table(trips: list[Trips], window_end: int) -> pa.Table:
    """The ``roaming_events`` contract: attach at start, detach at end if inside the window."""
    parts = []
    for t in trips:
        back = np.flatnonzero(t.end < window_end)
        for event, rows, ts in (
            ("attach", np.arange(t.size), t.start),
            ("detach", back, t.end[back]),
        ):
            parts.append(
                {
                    "carrier": t.carrier[rows],
                    "subscriber_id": t.subscriber_id.take(rows),
                    "ts": ts,
                    "country": t.country[rows],
                    "event": np.full(rows.size, event, dtype=object),
                    "direction": np.full(rows.size, t.direction, dtype=object),
                }
            )
    ts = np.concatenate([p["ts"] for p in parts])
    order = np.argsort(ts, kind="stable")
    columns = {}
    for name in COLUMNS:
        if name == "subscriber_id":
            columns[name] = pa.concat_arrays([p[name] for p in parts]).take(order)
        elif name == "ts":
            columns[name] = strings.iso_utc(ts[order])
        else:
            columns[name] = pa.array(np.concatenate([p[name] for p in parts])[order], pa.string())
    return pa.table(columns)


def truth_table(trips: list[Trips]) -> pa.Table:
    """Every stay with its true start and end (UTC), for checking traveller notices."""
    utc = pa.timestamp("s", tz="UTC")
    return pa.table(
        {
            "direction": pa.array(
                np.concatenate([np.full(t.size, t.direction, dtype=object) for t in trips]),
                pa.string(),
            ),
            "carrier": pa.array(np.concatenate([t.carrier for t in trips]), pa.string()),
            "subscriber_id": pa.concat_arrays([t.subscriber_id for t in trips]),
            "country": pa.array(np.concatenate([t.country for t in trips]), pa.string()),
            "start": pa.array(np.concatenate([t.start for t in trips]), utc),
            "end": pa.array(np.concatenate([t.end for t in trips]), utc),
        }
    )
