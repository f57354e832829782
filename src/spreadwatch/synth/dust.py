"""The synthetic truth of outdoor fine dust: an hourly PM2.5 field anywhere on the peninsula.

PM2.5 (ug/m3) at a point and hour is the product of a smooth regional level and a diurnal
factor, plus local sources:

* **background**: ``background`` ug/m3, rising toward the west coast (``west_gradient`` per
  degree of longitude west of 129 E: the peninsula's west lies downwind of the continent);
* **transport episode**: a front entering from the west coast at ``episode_start_hour`` and
  crossing east at ``episode_speed_kmh``; at a point it lasts about ``episode_hours`` (a
  Gaussian in time around the front's passage) and brings ``episode_peak`` ug/m3 at the west
  coast, fading with the distance travelled inland (``episode_decay_km``); with
  ``episode_every_hours``, further episodes follow at that mean interval (jittered by a
  third), each with its own strength (log-normal, ``episode_peak_sd``): a season of them;
* **local sources**: roads and industry of dense districts, ``local_peak`` ug/m3 times the
  district's log population density relative to the densest, spread over
  ``local_spread_km`` (a Gaussian kernel over the districts' centroids);
* **diurnal cycle**: local sources peak at the morning and evening rush hours (08 and 19 KST),
  ``diurnal_amplitude`` above and below their mean;
* **weather noise**: a smooth multiplicative field (a few random plane waves of wavelength
  ``noise_wavelength_km``, drifting with the hours), log-scale ``noise_sd``.

The field is deterministic given its seed, so stations, purifiers and the truth all read the
same concentrations. PM10 is PM2.5 times a ratio of ``pm10_ratio`` (higher during the
transport episode, whose dust is coarser).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from spreadwatch.regions.distance import KM_PER_DEGREE, MID_LAT, great_circle_km, planar_km
from spreadwatch.synth.geography import Geography

#: Korea Standard Time, hours ahead of UTC.
KST_HOURS = 9
_RUSH_HOURS_KST = (8, 19)
_WEST_COAST_LON = 126.0


@dataclass(frozen=True)
class DustConfig:
    """Parameters of the synthetic field (see the module doc)."""

    start: datetime  # UTC, whole hour: hour 0
    hours: int = 7 * 24
    seed: int = 1
    background: float = 12.0
    west_gradient: float = 3.0
    episode_start_hour: float = 60.0
    episode_speed_kmh: float = 35.0
    episode_hours: float = 30.0
    episode_peak: float = 85.0
    episode_decay_km: float = 450.0
    episode_every_hours: float = 0.0  # 0: one episode
    episode_peak_sd: float = 0.35
    local_peak: float = 14.0
    local_spread_km: float = 12.0
    diurnal_amplitude: float = 0.45
    noise_sd: float = 0.18
    noise_wavelength_km: float = 250.0
    noise_waves: int = 6
    pm10_ratio: float = 1.6
    pm10_ratio_episode: float = 2.6

    def __post_init__(self) -> None:
        if self.hours < 1:
            raise ValueError(f"hours={self.hours}: expected at least 1")
        if self.start.minute or self.start.second or self.start.microsecond:
            raise ValueError(f"start={self.start.isoformat()}: expected a whole hour")
        if self.episode_every_hours < 0 or 0 < self.episode_every_hours < self.episode_hours:
            raise ValueError(
                f"episode_every_hours={self.episode_every_hours:g}: expected 0 (one episode) "
                f"or at least episode_hours ({self.episode_hours:g})"
            )


class DustField:
    """The hourly PM2.5 and PM10 truth at any points, for the districts of ``geo`` (of areas
    ``areas_km2``, in the same order)."""

    def __init__(self, config: DustConfig, geo: Geography, areas_km2: np.ndarray) -> None:
        self.config = config
        self._geo = geo
        density = geo.population / np.maximum(areas_km2, 1.0)
        log_density = np.log1p(density)
        #: per district, its local sources' strength (0 to 1, the densest 1)
        self.source_strength = np.clip(
            (log_density - log_density.min()) / np.ptp(log_density), 0.0, 1.0
        )
        rng = np.random.default_rng(config.seed)
        angle = rng.uniform(0, 2 * np.pi, config.noise_waves)
        self._wave_vector = (2 * np.pi / config.noise_wavelength_km) * np.stack(
            [np.cos(angle), np.sin(angle)], axis=1
        )  # per wave, radians per km east and north
        self._wave_phase = rng.uniform(0, 2 * np.pi, config.noise_waves)
        self._wave_drift = rng.normal(0, 0.05, config.noise_waves)  # radians per hour
        #: per episode, the hour its front enters at the west coast and its peak there
        self.episodes = _episodes(config, np.random.default_rng([config.seed, 1]))

    def pm25(self, lat: np.ndarray, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """PM2.5 (ug/m3) at each point (``lat``, ``lon``: 1-D, WGS84) and each of ``hours``
        (hours since the start): shape ``(hours, points)``."""
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        return self._pm25(lat, lon, np.asarray(hours, float), self._local(lat, lon))

    def _pm25(
        self, lat: np.ndarray, lon: np.ndarray, hours: np.ndarray, local: np.ndarray
    ) -> np.ndarray:
        """:meth:`pm25` given the points' local sources' mean (``local``)."""
        c = self.config
        regional = c.background + c.west_gradient * np.clip(129.0 - lon, 0.0, None)
        regional = regional[None, :] + self._episode(lon, hours)
        local = local[None, :] * self._diurnal(hours)[:, None]
        return (regional + local) * self._weather(lat, lon, hours)

    def pm10(self, lat: np.ndarray, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """PM10 (ug/m3), as :meth:`pm25`: PM2.5 times a ratio rising with the episode's dust."""
        return self.pm25(lat, lon, hours) * self._pm10_ratio(lon, hours)

    def _pm10_ratio(self, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        c = self.config
        share = self._episode(np.asarray(lon, float), np.asarray(hours, float)) / c.episode_peak
        return c.pm10_ratio + (c.pm10_ratio_episode - c.pm10_ratio) * np.clip(share, 0, 1)

    def district_means(
        self, hours: np.ndarray, points_per_district: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """PM2.5 and PM10 averaged over ``points_per_district`` random points of each district
        (the same points for every call), each ``(hours, districts)``; a day at a time."""
        district = np.repeat(np.arange(self._geo.size), points_per_district)
        lat, lon = self._geo.points_inside(district, np.random.default_rng([self.config.seed, 2]))
        local = self._local(lat, lon)
        hours = np.asarray(hours, float)
        pm25 = np.empty((len(hours), self._geo.size))
        pm10 = np.empty_like(pm25)
        for first in range(0, len(hours), 24):
            chunk = hours[first : first + 24]
            at_points = self._pm25(lat, lon, chunk, local)
            shape = (len(chunk), self._geo.size, points_per_district)
            pm25[first : first + 24] = at_points.reshape(shape).mean(axis=2)
            coarse = at_points * self._pm10_ratio(lon, chunk)
            pm10[first : first + 24] = coarse.reshape(shape).mean(axis=2)
        return pm25, pm10

    def episode_share(self, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """The transport episode's ug/m3 at each longitude and hour, ``(hours, points)``."""
        return self._episode(np.asarray(lon, float), np.asarray(hours, float))

    def _episode(self, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        c = self.config
        inland_km = (
            np.clip(lon - _WEST_COAST_LON, 0.0, None) * KM_PER_DEGREE * np.cos(np.radians(MID_LAT))
        )
        fading = np.exp(-inland_km / c.episode_decay_km)[None, :]
        total = np.zeros((len(hours), len(lon)))
        for start, peak in self.episodes:
            arrival = start + inland_km / c.episode_speed_kmh
            lag = (hours[:, None] - arrival[None, :]) / (c.episode_hours / 2)
            total += peak * fading * np.exp(-0.5 * lag**2)
        return total

    def _local(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Local sources' mean ug/m3 at each point: the districts' strengths spread by a
        Gaussian kernel of their centroids' distance."""
        c = self.config
        distance = great_circle_km(lat, lon, self._geo.lat, self._geo.lon)
        weight = np.exp(-0.5 * (distance / c.local_spread_km) ** 2)
        return c.local_peak * np.max(weight * self.source_strength[None, :], axis=1)

    def _diurnal(self, hours: np.ndarray) -> np.ndarray:
        """Per hour, the local sources' factor (mean 1): peaks at the rush hours (KST)."""
        hour_kst = (hours + self.config.start.hour + KST_HOURS) % 24
        mean = _rush(np.arange(0, 24, 0.25)).mean()
        return 1.0 + self.config.diurnal_amplitude * (_rush(hour_kst) / mean - 1.0)

    def _weather(self, lat: np.ndarray, lon: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """A smooth multiplicative noise field of log-scale ``noise_sd``, ``(hours, points)``."""
        c = self.config
        east, north = planar_km(lat, lon).T
        phase = self._wave_vector[:, 0, None] * east + self._wave_vector[:, 1, None] * north
        drift = self._wave_phase[None, :] + self._wave_drift[None, :] * hours[:, None]
        phase = phase[None, :, :] + drift[:, :, None]
        waves = np.cos(phase).sum(axis=1) * np.sqrt(2.0 / c.noise_waves)  # unit variance
        return np.exp(c.noise_sd * waves - 0.5 * c.noise_sd**2)


def _episodes(config: DustConfig, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``(start hour, peak)`` of each episode: the first as configured, then (with
    ``episode_every_hours``) one every interval, jittered, each of a log-normal strength."""
    episodes = [(config.episode_start_hour, config.episode_peak)]
    if not config.episode_every_hours:
        return episodes
    start = config.episode_start_hour
    while True:
        start += config.episode_every_hours * rng.uniform(2 / 3, 4 / 3)
        if start > config.hours + config.episode_hours:
            return episodes
        strength = np.exp(rng.normal(0, config.episode_peak_sd) - config.episode_peak_sd**2 / 2)
        episodes.append((float(start), float(config.episode_peak * strength)))


def _rush(hour_kst: np.ndarray) -> np.ndarray:
    """Traffic by hour of the day: a peak of two hours' spread at each rush hour."""
    return sum(np.exp(-0.5 * (((hour_kst - h + 12) % 24 - 12) / 2.0) ** 2) for h in _RUSH_HOURS_KST)
