"""Probabilistic forecasts of case counts: models, an ensemble, hubverse tables, WIS scoring
and rolling-origin backtests."""

from spreadwatch.forecast.hub import HUB_SCHEMA, QUANTILE_LEVELS
from spreadwatch.forecast.scoring import interval_coverage, weighted_interval_score

__all__ = ["HUB_SCHEMA", "QUANTILE_LEVELS", "interval_coverage", "weighted_interval_score"]
