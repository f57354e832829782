"""Validated configuration of one synthetic-Korea run.

Every knob that changes the output is here, so a config plus its seed reproduces the files byte for
byte. The scale knob is ``subscribers`` (events ~ ``subscribers * days * (events_per_day + 1)``);
:meth:`SynthConfig.for_events` picks it from a target event count.

Defaults are validated like given values, and weights (carrier shares, countries, platforms) are
normalised idempotently, so a config read back from ``manifest.json`` equals the one that wrote it.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SUM_TOLERANCE = 1e-9  # weights summing to 1 within this are kept as given


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _normalised(weights: dict[str, float], what: str) -> dict[str, float]:
    """Weights scaled to sum to 1; already-normalised weights are returned unchanged, so
    normalising twice (a config written to JSON and read back) changes nothing."""
    if not weights:
        raise ValueError(f"{what}: at least one entry is needed")
    if any(not math.isfinite(w) or w < 0 for w in weights.values()):
        raise ValueError(f"{what}: weights must be finite and non-negative")
    total = math.fsum(weights.values())
    if total <= 0:
        raise ValueError(f"{what}: weights must not all be zero")
    if abs(total - 1.0) <= _SUM_TOLERANCE:
        return dict(weights)
    return {k: w / total for k, w in weights.items()}


def _ascii_name(name: str, what: str) -> None:
    """Names become folder names, file names and id prefixes: ASCII letters and digits only."""
    if not name or not (name.isascii() and name.isalnum()):
        raise ValueError(f"{what} name {name!r} must be ASCII letters and digits")


class MobilityConfig(_Frozen):
    """Gravity model of where residents spend the day.

    ``P(day region j | home i) = stay_home`` for ``j == i``, otherwise
    ``(1 - stay_home) * pop_j * exp(-d_ij / d0_km) / sum_{k != i} pop_k * exp(-d_ik / d0_km)``
    with ``d_ij`` the great-circle distance between region centroids. A commuter (usual day region
    differs from home) actually goes there on a given day with ``weekday_commute`` or
    ``weekend_commute`` probability, otherwise spends the day at home.
    """

    stay_home: float = Field(0.65, ge=0.0, le=1.0)
    d0_km: float = Field(15.0, gt=0.0)
    weekday_commute: float = Field(0.95, ge=0.0, le=1.0)
    weekend_commute: float = Field(0.35, ge=0.0, le=1.0)
    anchor_probability: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="share of a subscriber's events at their usual (home or work) cell; the rest "
        "go to a random cell of the same region",
    )


class EpidemicConfig(_Frozen):
    """Stochastic chain-binomial metapopulation SEIR (see :mod:`spreadwatch.synth.epidemic`)."""

    r0: float = Field(2.5, ge=0.0)
    latent_days: float = Field(3.0, gt=0.0)
    infectious_days: float = Field(5.0, gt=0.0)
    seed_region: str = Field(
        "22040", pattern=r"^[0-9]{5}$", description="si-gun-gu code (default Daegu Nam-gu)"
    )
    seed_infections: int = Field(20, ge=0, description="people exposed on the first day")
    measure_day: int | None = Field(
        None,
        ge=1,
        description="day (0 = the first) from which a measure (distancing) cuts transmission; "
        "none: no measure",
    )
    measure_transmission: float = Field(
        0.5, ge=0.0, le=1.0, description="transmission relative to before, from measure_day on"
    )


class ReportingConfig(_Frozen):
    """Under-ascertainment and delay from infection to a confirmed case."""

    fraction: float = Field(0.4, ge=0.0, le=1.0)
    delay_mean_days: float = Field(5.0, gt=0.0)
    delay_sd_days: float = Field(3.0, gt=0.0)
    max_delay_days: int = Field(21, ge=0)


class RoamingConfig(_Frozen):
    """International roaming: our subscribers abroad (outbound) and visitors (inbound)."""

    outbound_share: float = Field(
        0.01, ge=0.0, le=1.0, description="share of subscribers starting a trip in the window"
    )
    trip_mean_days: float = Field(6.0, ge=1.0)
    inbound_per_day_per_10k: float = Field(
        5.0, ge=0.0, description="visitors arriving per day per 10,000 synthetic subscribers"
    )
    outbound_countries: dict[str, float] = {
        "JPN": 0.30,
        "CHN": 0.20,
        "VNM": 0.13,
        "THA": 0.07,
        "USA": 0.07,
        "PHL": 0.06,
        "TWN": 0.05,
        "HKG": 0.04,
        "SGP": 0.03,
        "ITA": 0.02,
        "FRA": 0.02,
        "AUS": 0.01,
    }
    inbound_countries: dict[str, float] = {
        "CHN": 0.35,
        "JPN": 0.18,
        "TWN": 0.07,
        "USA": 0.07,
        "HKG": 0.05,
        "VNM": 0.05,
        "THA": 0.05,
        "PHL": 0.04,
        "RUS": 0.03,
        "SGP": 0.03,
        "IRN": 0.02,
        "ITA": 0.02,
        "DEU": 0.02,
        "GBR": 0.02,
    }

    @field_validator("outbound_countries", "inbound_countries")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for code in value:
            if len(code) != 3 or not code.isascii() or not code.isalpha() or not code.isupper():
                raise ValueError(f"country {code!r} is not an ISO 3166 alpha-3 code")
        return _normalised(value, "countries")


#: Mean readings per device and day of each kind of home device.
DEFAULT_READINGS_PER_DAY = {"presence": 12.0, "body_temp": 0.4, "pm25": 4.0, "appliance_on": 6.0}


class TelemetryConfig(_Frozen):
    """Home devices on two platforms, installed in a sample of subscribers' homes."""

    household_fraction: float = Field(0.05, ge=0.0, le=1.0)
    coverage: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="share of each region's real households (population / 2.4) with devices; "
        "when set, households are drawn per region (not subscribers' homes) and "
        "household_fraction is not used",
    )
    regions: list[str] = Field(
        default_factory=list,
        description="si-gun-gu code prefixes where devices are installed, e.g. ['22', '37'] "
        "for Daegu and Gyeongbuk (empty: everywhere)",
    )
    platforms: dict[str, float] = {"thinq": 0.55, "gigagenie": 0.45}
    readings_per_day: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_READINGS_PER_DAY),
        description="mean readings per device and day, by kind (a sick home measures body_temp "
        "3 times a day whatever this says)",
    )
    no_consent_fraction: float = Field(0.05, ge=0.0, le=1.0)
    format: Literal["csv", "parquet"] = "csv"

    @field_validator("readings_per_day")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_READINGS_PER_DAY))
        if unknown:
            raise ValueError(
                f"unknown kind {unknown[0]!r} (expected {', '.join(DEFAULT_READINGS_PER_DAY)})"
            )
        if any(not (v >= 0) for v in value.values()):
            raise ValueError("readings per day must be numbers >= 0")
        return {**DEFAULT_READINGS_PER_DAY, **value}

    @field_validator("regions")
    @classmethod
    def _region_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not (prefix.isdigit() and 1 <= len(prefix) <= 5):
                raise ValueError(f"{prefix!r} is not a region code prefix (1-5 digits)")
        return value

    @field_validator("platforms")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _ascii_name(name, "platform")
        return _normalised(value, "platforms")


class AirConfig(_Frozen):
    """Fine dust: the outdoor field, its monitoring stations and the homes' purifiers
    (:mod:`spreadwatch.synth.dust`, :mod:`spreadwatch.synth.stations`,
    :mod:`spreadwatch.synth.purifiers`)."""

    enabled: bool = True
    episode_every_hours: float = Field(
        144.0,
        ge=0.0,
        description="mean hours between westerly transport episodes (0: only one, at hour 60)",
    )
    people_per_station: float = Field(120_000.0, gt=0.0)
    purifier_ownership: float = Field(0.6, ge=0.0, le=1.0, description="share of homes")
    infiltration: float = Field(
        0.55, gt=0.0, le=1.0, description="mean share of outdoor PM2.5 that gets indoors"
    )
    time_indoors: float = Field(0.9, ge=0.0, le=1.0, description="share of people's hours")

    @field_validator("episode_every_hours")
    @classmethod
    def _interval(cls, value: float) -> float:
        if 0 < value < 30:
            raise ValueError("expected 0 (one episode) or at least 30 hours (an episode's length)")
        return value


class SynthConfig(_Frozen):
    """One run of the synthetic Korea generator."""

    seed: int = Field(0, ge=0)
    subscribers: int = Field(20_000, ge=1)
    days: int = Field(28, ge=1)
    start_date: date = date(2020, 2, 1)
    carriers: dict[str, float] = {"SKT": 0.48, "KT": 0.31, "LGU": 0.21}
    cells_per_10k_people: float = Field(1.0, gt=0.0, description="cells per carrier")
    events_per_day: float = Field(6.0, ge=0.0, description="mean; each day is Poisson(mean) + 1")
    messy_fraction: float = Field(0.001, ge=0.0, le=0.2)
    events_format: Literal["csv", "parquet"] = "csv"
    """Location event files as CSV (as carriers deliver them) or Parquet (a tenth of the size:
    how a delivery of a billion events fits on one disk)."""
    mobility: MobilityConfig = MobilityConfig()
    epidemic: EpidemicConfig = EpidemicConfig()
    reporting: ReportingConfig = ReportingConfig()
    roaming: RoamingConfig = RoamingConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    air: AirConfig = AirConfig()
    chunk_rows: int = Field(
        2_000_000, ge=10_000, description="upper bound on location events held in memory at once"
    )

    @field_validator("carriers")
    @classmethod
    def _carriers(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _ascii_name(name, "carrier")
        return _normalised(value, "carriers")

    @model_validator(mode="after")
    def _epoch(self) -> SynthConfig:
        if self.start_date.year < 1970:
            raise ValueError("start_date must not be before 1970")
        return self

    @property
    def expected_events(self) -> int:
        """Expected number of clean location events (before travel and messy rows)."""
        return round(self.subscribers * self.days * (self.events_per_day + 1.0))

    @classmethod
    def for_events(cls, events: int, **overrides: object) -> SynthConfig:
        """A config whose expected location-event count is about ``events``."""
        base = cls(**overrides)  # type: ignore[arg-type]
        per_subscriber = base.days * (base.events_per_day + 1.0)
        return base.model_copy(update={"subscribers": max(1, math.ceil(events / per_subscriber))})
