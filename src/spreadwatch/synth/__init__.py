"""Synthetic Korea: carriers, cells, subscribers, trips, roaming, homes with devices and a true
epidemic, written as the raw input contracts exactly as carriers and platforms deliver them.

    from spreadwatch.synth import SynthConfig, generate
    manifest = generate(SynthConfig(seed=1, subscribers=20_000), Path("out/synth"))

Deterministic by seed, vectorised, and chunked so tens of millions of events fit in bounded
memory. See ``docs/synth.md`` for the output layout.
"""

from spreadwatch.synth.config import (
    EpidemicConfig,
    MobilityConfig,
    ReportingConfig,
    RoamingConfig,
    SynthConfig,
    TelemetryConfig,
)
from spreadwatch.synth.generate import generate
from spreadwatch.synth.manifest import SynthManifest

__all__ = [
    "EpidemicConfig",
    "MobilityConfig",
    "ReportingConfig",
    "RoamingConfig",
    "SynthConfig",
    "SynthManifest",
    "TelemetryConfig",
    "generate",
]
