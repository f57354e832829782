"""Forecasts at an origin, the ensembles, and rolling-origin backtests with their scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from spreadwatch.forecast.boosting import GradientBoosting
from spreadwatch.forecast.history import History
from spreadwatch.forecast.hub import HUB_SCHEMA, QUANTILE_LEVELS, TOTAL
from spreadwatch.forecast.models import Baseline, EndemicEpidemic
from spreadwatch.forecast.scoring import interval_coverage, weighted_interval_score
from spreadwatch.infer.cases import CasesError
from spreadwatch.progress import track

MODELS = {
    "baseline": Baseline(),
    "endemic-epidemic": EndemicEpidemic(),
    "gradient-boosting": GradientBoosting(),
}
ENSEMBLE = "ensemble"
WEIGHTED = "ensemble-weighted"
DRAWS = 1000


@dataclass(frozen=True)
class Forecast:
    """One model's forecast at one origin: ``mean`` ``(horizons, locations)`` and
    ``quantiles`` ``(levels, horizons, locations)`` at :data:`QUANTILE_LEVELS`."""

    model: str
    origin: int
    mean: np.ndarray
    quantiles: np.ndarray


class ModelSkipped(CasesError):
    """A model that cannot forecast from the data at hand (too short, wrong unit)."""


def forecast_at(
    history: History,
    origin: int,
    horizons: int,
    models: Sequence[str],
    seed: int = 0,
    weights: Mapping[str, float] | None = None,
    registry: Mapping[str, object] | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, Forecast]:
    """Forecasts of every model in ``models`` from the first ``origin`` periods, plus the
    quantile-median ensemble and the ensemble weighted by ``weights`` (equal without).
    ``registry`` maps model names to models (default :data:`MODELS`). A model that cannot use
    the data raises :class:`~spreadwatch.infer.CasesError`, or, with ``skipped``, is left out
    and its reason recorded there."""
    registry = MODELS if registry is None else registry
    seen = history.upto(origin)
    out: dict[str, Forecast] = {}
    shown = len(locations(history))
    for i, name in enumerate(m for m in models if m in registry):
        rng = np.random.default_rng([seed, origin, i])
        model = registry[name]
        try:
            if hasattr(model, "predict_quantiles"):
                mean, quantiles = model.predict_quantiles(seen, horizons, rng)
                out[name] = Forecast(name, origin, mean[:, :shown], quantiles[:, :, :shown])
                continue
            samples = model.sample(seen, horizons, DRAWS, rng)[:, :, :shown]
        except (CasesError, ValueError, np.linalg.LinAlgError) as exc:
            if skipped is None:
                raise
            skipped.setdefault(name, str(exc))
            continue
        quantiles = np.quantile(samples, QUANTILE_LEVELS, axis=0)
        out[name] = Forecast(name, origin, samples.mean(axis=0), quantiles)
    components = [out[m] for m in models if m in out]
    if ENSEMBLE in models and components:
        stacked = np.stack([f.quantiles for f in components])
        out[ENSEMBLE] = Forecast(
            ENSEMBLE,
            origin,
            np.mean([f.mean for f in components], axis=0),
            np.sort(np.median(stacked, axis=0), axis=0),
        )
    if WEIGHTED in models and components:
        weights = weights or {}
        w = np.array([weights.get(f.model, 0.0) for f in components])
        w = w / w.sum() if w.sum() > 0 else np.full(len(components), 1 / len(components))
        stacked = np.stack([f.quantiles for f in components])
        out[WEIGHTED] = Forecast(
            WEIGHTED,
            origin,
            np.tensordot(w, np.stack([f.mean for f in components]), 1),
            np.tensordot(w, stacked, 1),
        )
    return out


def locations(history: History) -> list[str]:
    """The regions, and their total when there is more than one."""
    return [*history.regions, TOTAL] if len(history.regions) > 1 else list(history.regions)


def hub_rows(history: History, forecast: Forecast, target: str) -> pa.Table:
    """A forecast as ``HUB_SCHEMA`` rows: per horizon and location, the mean and quantiles."""
    horizons, count = forecast.mean.shape
    names = locations(history)
    origin = history.ends[forecast.origin - 1]
    values = np.concatenate([forecast.mean[None], forecast.quantiles])  # (1 + Q, H, L)
    per = values.shape[0]
    horizon = np.repeat(np.arange(1, horizons + 1, dtype=np.int32), count * per)
    end = np.datetime64(origin, "D") + horizon.astype(np.int64) * history.step_days
    rows = horizon.size
    return pa.table(
        {
            "model": pa.array([forecast.model] * rows, pa.string()),
            "origin_date": pa.array(np.repeat(np.datetime64(origin, "D"), rows), pa.date32()),
            "target": pa.array([target] * rows, pa.string()),
            "horizon": pa.array(horizon, pa.int32()),
            "target_end_date": pa.array(end, pa.date32()),
            "location": pa.array(np.tile(np.repeat(np.array(names, dtype=object), per), horizons)),
            "output_type": pa.array(
                np.tile(
                    np.array(["mean"] + ["quantile"] * (per - 1), dtype=object),
                    horizons * count,
                )
            ),
            "output_type_id": pa.array(
                np.tile(np.concatenate([[np.nan], QUANTILE_LEVELS]), horizons * count),
                pa.float64(),
                from_pandas=True,
            ),
            "value": pa.array(values.transpose(1, 2, 0).reshape(-1), pa.float64()),
        },
        schema=HUB_SCHEMA,
    )


def target_name(history: History) -> str:
    return f"inc case {'day' if history.unit == 'day' else 'wk'}"


def forecast_table(
    history: History,
    horizons: int,
    models: Sequence[str],
    seed: int = 0,
    registry: Mapping[str, object] | None = None,
    skipped: dict[str, str] | None = None,
) -> pa.Table:
    """The hubverse table of forecasts from the end of ``history`` (models that cannot use the
    data are left out, their reasons in ``skipped``, when given)."""
    forecasts = forecast_at(
        history, history.periods, horizons, models, seed, registry=registry, skipped=skipped
    )
    if not forecasts:
        raise CasesError(
            "no model can forecast from these data: "
            + "; ".join(f"{m}: {reason}" for m, reason in (skipped or {}).items())
        )
    target = target_name(history)
    return pa.concat_tables([hub_rows(history, f, target) for f in forecasts.values()])


def backtest(
    history: History,
    horizons: int,
    models: Sequence[str],
    first_origin: int,
    every: int = 1,
    seed: int = 0,
    registry: Mapping[str, object] | None = None,
    skipped: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Rolling-origin forecasts from ``first_origin`` periods on, every ``every`` periods,
    scored against what happened: one row per model, origin, horizon and location with the
    WIS, absolute error of the median, and 50% and 90% coverage.

    The weighted ensemble at an origin weighs models by the inverse of their mean WIS over
    the forecasts already evaluated then (equal weights before any)."""
    names = locations(history)
    truth = np.column_stack([history.counts, history.counts.sum(axis=1)])[:, : len(names)]
    rows: list[pd.DataFrame] = []
    past: list[pd.DataFrame] = []
    origins = range(first_origin, history.periods, every)
    median = int(np.flatnonzero(np.isclose(QUANTILE_LEVELS, 0.5))[0])
    for origin in track(origins, f"Backtest, {len(origins)} origins"):
        scored = pd.concat(past) if past else None
        weights = _inverse_wis(scored, origin) if scored is not None else {}
        forecasts = forecast_at(
            history, origin, horizons, models, seed, weights or None, registry, skipped
        )
        available = min(horizons, history.periods - origin)
        observed = truth[origin : origin + available]  # (h, L)
        for name, f in forecasts.items():
            q = f.quantiles[:, :available].transpose(1, 2, 0)  # (h, L, Q)
            frame = pd.DataFrame(
                {
                    "model": name,
                    "origin": origin,
                    "origin_date": history.ends[origin - 1],
                    "horizon": np.repeat(np.arange(1, available + 1), len(names)),
                    "location": np.tile(names, available),
                    "observed": observed.reshape(-1),
                    "median": q[..., median].reshape(-1),
                    "wis": weighted_interval_score(q, QUANTILE_LEVELS, observed).reshape(-1),
                    "cover50": interval_coverage(q, QUANTILE_LEVELS, observed, 0.5).reshape(-1),
                    "cover90": interval_coverage(q, QUANTILE_LEVELS, observed, 0.9).reshape(-1),
                }
            )
            frame["abs_error"] = (frame["observed"] - frame["median"]).abs()
            rows.append(frame)
        if forecasts:
            past.append(pd.concat(rows[-len(forecasts) :]))
    if not rows:
        raise CasesError("no model can forecast from these data")
    return pd.concat(rows, ignore_index=True)


def _inverse_wis(scored: pd.DataFrame, origin: int) -> dict[str, float]:
    """Inverse mean WIS per component model over forecasts whose targets were observed before
    ``origin`` (so no forecast uses data from its own future)."""
    components = ~scored["model"].isin([ENSEMBLE, WEIGHTED])
    known = scored[(scored["origin"] + scored["horizon"] <= origin) & components]
    if known.empty:
        return {}
    mean = known.groupby("model")["wis"].mean()
    return {m: 1.0 / max(v, 1e-9) for m, v in mean.items()}


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and horizon: mean WIS, relative WIS (to the baseline, same forecasts), mean
    absolute error, and 50% and 90% coverage."""
    table = (
        scores.groupby(["model", "horizon"])
        .agg(
            wis=("wis", "mean"),
            abs_error=("abs_error", "mean"),
            cover50=("cover50", "mean"),
            cover90=("cover90", "mean"),
            forecasts=("wis", "size"),
        )
        .reset_index()
    )
    if "baseline" in set(scores["model"]):
        table["relative_wis"] = (
            relative_wis(scores, ["model", "horizon"])
            .reindex(pd.MultiIndex.from_frame(table[["model", "horizon"]]))
            .to_numpy()
        )
    return table


def relative_wis(scores: pd.DataFrame, by: list[str]) -> pd.Series:
    """Each model's mean WIS over the baseline's on the same forecasts (origin, horizon and
    location both scored), per group ``by``."""
    keys = ["origin", "horizon", "location"]
    base = scores[scores["model"] == "baseline"].set_index(keys)["wis"].rename("baseline_wis")
    paired = scores.join(base, on=keys, how="inner")
    sums = paired.groupby(by)[["wis", "baseline_wis"]].sum()
    return sums["wis"] / sums["baseline_wis"]
