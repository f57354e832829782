"""SynthConfig validation, JSON round trip and the scale knob (no generation)."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from spreadwatch.synth import (
    EpidemicConfig,
    RoamingConfig,
    SynthConfig,
    TelemetryConfig,
)


def _error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subscribers": -5}, "subscribers"),
        ({"subscribers": 0}, "subscribers"),
        ({"days": 0}, "days"),
        ({"seed": -1}, "seed"),
        ({"messy_fraction": 0.5}, "messy_fraction"),
        ({"events_per_day": -1.0}, "events_per_day"),
        ({"chunk_rows": 10}, "chunk_rows"),
        ({"subscriber": 10}, "subscriber"),  # unknown field (typo)
        ({"carriers": {"SKT": 0.0, "KT": 0.0}}, "carriers"),
        ({"carriers": {}}, "carriers"),
        ({"carriers": {"SKT": -1.0, "KT": 2.0}}, "carriers"),
        ({"carriers": {"S K": 1.0}}, "carriers"),
        ({"carriers": {"../x": 1.0}}, "carriers"),
        ({"carriers": {"한국": 1.0}}, "carriers"),
        ({"carriers": {"SKT": math.nan}}, "carriers"),
        ({"mobility": {"stay_home": 1.5}}, "mobility.stay_home"),
        ({"mobility": {"d0_km": 0.0}}, "mobility.d0_km"),
        ({"mobility": {"speed": 1.0}}, "mobility.speed"),
        ({"epidemic": {"seed_region": "Daegu"}}, "epidemic.seed_region"),
        ({"epidemic": {"latent_days": 0}}, "epidemic.latent_days"),
        ({"reporting": {"fraction": 1.2}}, "reporting.fraction"),
        ({"roaming": {"outbound_countries": {"japan": 1.0}}}, "roaming.outbound_countries"),
        ({"roaming": {"inbound_countries": {"JP": 1.0}}}, "roaming.inbound_countries"),
        ({"roaming": {"inbound_countries": {"ÄÖÜ": 1.0}}}, "roaming.inbound_countries"),
        ({"telemetry": {"platforms": {"a/b": 1.0}}}, "telemetry.platforms"),
        ({"telemetry": {"platforms": {"thinq": 0.0}}}, "telemetry.platforms"),
        ({"telemetry": {"format": "xlsx"}}, "telemetry.format"),
        ({"start_date": "1969-12-31"}, ""),  # model-level check
    ],
)
def test_bad_configs_raise_validation_errors_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as info:
        SynthConfig(**kwargs)
    fields = _error_fields(info.value)
    if field:
        assert any(f == field or f.startswith(field + ".") for f in fields), fields
    else:
        assert "1970" in str(info.value)


def test_config_is_frozen():
    config = SynthConfig()
    with pytest.raises(ValidationError):
        config.days = 3  # type: ignore[misc]


def test_weights_are_normalised():
    config = SynthConfig(carriers={"A": 2.0, "B": 6.0}, telemetry={"platforms": {"x1": 3.0}})
    assert config.carriers == {"A": 0.25, "B": 0.75}
    assert config.telemetry.platforms == {"x1": 1.0}
    roaming = RoamingConfig(outbound_countries={"JPN": 1.0, "USA": 3.0})
    assert roaming.outbound_countries == {"JPN": 0.25, "USA": 0.75}


@pytest.mark.parametrize(
    "config",
    [
        SynthConfig(),
        SynthConfig(seed=3, carriers={"A": 0.1, "B": 0.2, "C": 0.7}),
        SynthConfig(carriers={"A": 1 / 3, "B": 1 / 7, "C": 2 / 9, "D": 0.123456789}),
        SynthConfig(roaming={"inbound_countries": {"CHN": 0.7, "JPN": 0.2, "USA": 0.1}}),
        SynthConfig(telemetry={"platforms": {"p1": 0.3, "p2": 0.3, "p3": 0.3}}),
    ],
)
def test_config_survives_a_json_round_trip_unchanged(config):
    """manifest.json stores the config; reading it back must give the very same config (and so
    the same output), also for defaults and for weights that needed normalising."""
    again = SynthConfig.model_validate_json(config.model_dump_json())
    assert again == config
    assert again.model_dump_json() == config.model_dump_json()
    twice = SynthConfig.model_validate(json.loads(again.model_dump_json()))
    assert twice == config


def test_nested_defaults_are_validated_and_normalised():
    roaming = RoamingConfig()
    for weights in (roaming.outbound_countries, roaming.inbound_countries):
        assert math.isclose(sum(weights.values()), 1.0, abs_tol=1e-9)
    assert EpidemicConfig().seed_region == "22040"
    assert TelemetryConfig().format == "csv"


@pytest.mark.parametrize(
    ("events", "overrides"),
    [
        (1_000_000, {}),
        (100_000_000, {}),
        (50_000, {"days": 5}),
        (2_000_000, {"days": 14, "events_per_day": 3.0}),
    ],
)
def test_for_events_hits_the_target_within_a_few_percent(events, overrides):
    config = SynthConfig.for_events(events, **overrides)
    per_subscriber_day = config.events_per_day + 1.0
    assert config.expected_events == round(config.subscribers * config.days * per_subscriber_day)
    assert abs(config.expected_events - events) / events < 0.02
    for key, value in overrides.items():
        assert getattr(config, key) == value


def test_for_events_validates_overrides():
    with pytest.raises(ValidationError):
        SynthConfig.for_events(1000, days=-1)
