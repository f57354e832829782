"""Forecasts at an origin, the ensembles, and rolling-origin backtests with their scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from spreadwatch.forecast.boosting import GradientBoosting
from spreadwatch.forecast.history import History
from spreadwatch.forecast.hub import HUB_SCHEMA, QUANTILE_LEVELS, with_metadata
from spreadwatch.forecast.models import Baseline, EndemicEpidemic, PathModel, QuantileModel
from spreadwatch.forecast.paths import paths_from_quantiles, regional_correlation
from spreadwatch.forecast.scoring import interval_coverage, weighted_interval_score
from spreadwatch.forecast.smoothing import LocalLevel
from spreadwatch.infer.cases import CasesError
from spreadwatch.progress import track

MODELS = {
    "baseline": Baseline(),
    "endemic-epidemic": EndemicEpidemic(),
    "gradient-boosting": GradientBoosting(),
    "local-level": LocalLevel(),
}
ENSEMBLE = "ensemble"
WEIGHTED = "ensemble-weighted"
ENSEMBLES = (ENSEMBLE, WEIGHTED)
#: Every model the forecast command knows by default, ensembles last.
MODEL_NAMES = (*MODELS, *ENSEMBLES)
DRAWS = 1000
#: Past origins whose scores weigh the weighted ensemble (the latest ones).
WEIGHT_WINDOW = 8


@dataclass(frozen=True)
class Forecast:
    """One model's forecast at one origin: ``mean`` ``(horizons, locations)`` and
    ``quantiles`` ``(levels, horizons, locations)`` at :data:`QUANTILE_LEVELS`; locations are
    the regions, then the aggregates."""

    model: str
    origin: int
    mean: np.ndarray
    quantiles: np.ndarray


class ModelSkipped(CasesError):
    """A model that cannot forecast from the data at hand (too short, wrong unit)."""


def _paths(
    model: PathModel | QuantileModel,
    seen: History,
    horizons: int,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    """A model's regional paths ``(draws, horizons, regions)``."""
    if hasattr(model, "predict_quantiles"):
        _, quantiles = model.predict_quantiles(seen, horizons, rng)
        paths = paths_from_quantiles(
            quantiles, QUANTILE_LEVELS, DRAWS, rng, regional_correlation(seen)
        )
        return np.round(paths)  # counts are whole numbers, and so are their quantiles
    return model.sample(seen, horizons, DRAWS, rng, notes)


def _capped(history: History, paths: np.ndarray, model: str, notes: list[str]) -> np.ndarray:
    """Paths at most each region's population; a note names the regions where that bit."""
    if history.population is None:
        return paths
    over = (paths > history.population).any(axis=(0, 1))
    if over.any():
        names = ", ".join(np.asarray(history.regions)[over][:5])
        notes.append(f"{model}: paths above the population of {names} cut to it")
        paths = np.minimum(paths, history.population)
    return paths


def forecast_at(
    history: History,
    origin: int,
    horizons: int,
    models: Sequence[str],
    seed: int = 0,
    weights: Mapping[str, float] | None = None,
    registry: Mapping[str, PathModel | QuantileModel] | None = None,
    skipped: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Forecast]:
    """Forecasts of every model in ``models`` from the first ``origin`` periods, plus the
    quantile-median ensemble and the quantile average weighted by ``weights`` (equal without).
    Every model's aggregates are the sums of its regional paths, and no path exceeds a
    region's population. ``registry`` maps model names to models (default :data:`MODELS`). A
    model that cannot use the data raises :class:`~spreadwatch.infer.CasesError`, or, with
    ``skipped``, is left out and its reason recorded there; ``notes`` collects fallbacks."""
    registry = MODELS if registry is None else registry
    notes = [] if notes is None else notes
    seen = history.upto(origin)
    out: dict[str, Forecast] = {}
    for i, name in enumerate(m for m in models if m in registry):
        rng = np.random.default_rng([seed, origin, i])
        try:
            paths = _paths(registry[name], seen, horizons, rng, notes)
        except (CasesError, ValueError, np.linalg.LinAlgError) as exc:
            if skipped is None:
                raise
            skipped.setdefault(name, str(exc))
            continue
        paths = history.with_aggregates(_capped(history, paths, name, notes))
        quantiles = np.quantile(paths, QUANTILE_LEVELS, axis=0)
        out[name] = Forecast(name, origin, paths.mean(axis=0), quantiles)
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
    """The regions, then the aggregates (the total, sido)."""
    return history.locations


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


@dataclass
class Selection:
    """How the default model was chosen: by a backtest over the latest origins (``scores``),
    or, without one, by rule (``reason``)."""

    default: str
    reason: str
    weights: dict[str, float]
    scores: pd.DataFrame | None = None


def forecast_table(
    history: History,
    horizons: int,
    models: Sequence[str],
    seed: int = 0,
    registry: Mapping[str, PathModel | QuantileModel] | None = None,
    skipped: dict[str, str] | None = None,
    notes: list[str] | None = None,
    selection: Selection | None = None,
) -> pa.Table:
    """The hubverse table of forecasts from the end of ``history`` (models that cannot use the
    data are left out, their reasons in ``skipped``, when given). With a ``selection`` its
    weights weigh the weighted ensemble and its default model is named in the table's
    metadata (``spreadwatch.default_model``) with the notes."""
    notes = [] if notes is None else notes
    forecasts = forecast_at(
        history,
        history.periods,
        horizons,
        models,
        seed,
        selection.weights if selection else None,
        registry=registry,
        skipped=skipped,
        notes=notes,
    )
    if not forecasts:
        raise CasesError(
            "no model can forecast from these data: "
            + "; ".join(f"{m}: {reason}" for m, reason in (skipped or {}).items())
        )
    target = target_name(history)
    table = pa.concat_tables([hub_rows(history, f, target) for f in forecasts.values()])
    default = selection.default if selection and selection.default in forecasts else None
    default = default or (ENSEMBLE if ENSEMBLE in forecasts else next(iter(forecasts)))
    return with_metadata(table, default, list(dict.fromkeys(notes)))


@dataclass
class Backtest:
    """Scores (one row per model, origin, horizon and location, with the location's ``level``:
    ``region`` or ``aggregate``) and the forecasts themselves as a hubverse table."""

    scores: pd.DataFrame
    forecasts: pa.Table


def backtest(
    history: History,
    horizons: int,
    models: Sequence[str],
    first_origin: int,
    every: int = 1,
    seed: int = 0,
    registry: Mapping[str, PathModel | QuantileModel] | None = None,
    skipped: dict[str, str] | None = None,
    notes: list[str] | None = None,
    origins: Sequence[int] | None = None,
    progress: str | None = None,
) -> Backtest:
    """Rolling-origin forecasts from ``first_origin`` periods on, every ``every`` periods (or
    at ``origins``), scored against what happened: per model, origin, horizon and location
    the WIS, absolute error of the median, and 50% and 90% coverage.

    The weighted ensemble at an origin weighs models by the inverse of their mean WIS over
    the regions' forecasts evaluated by then, from the latest :data:`WEIGHT_WINDOW` origins
    (equal weights before any)."""
    names = locations(history)
    regional = len(history.regions)
    truth = history.with_aggregates(history.counts)
    rows: list[pd.DataFrame] = []
    tables: list[pa.Table] = []
    origins = list(origins if origins is not None else range(first_origin, history.periods, every))
    median = int(np.flatnonzero(np.isclose(QUANTILE_LEVELS, 0.5))[0])
    target = target_name(history)
    label = progress if progress is not None else f"Backtest, {len(origins)} origins"
    for origin in track(origins, label):
        scored = pd.concat(rows) if rows else None
        weights = _inverse_wis(scored, origin) if scored is not None else {}
        forecasts = forecast_at(
            history, origin, horizons, models, seed, weights or None, registry, skipped, notes
        )
        available = min(horizons, history.periods - origin)
        observed = truth[origin : origin + available]  # (h, L)
        for name, f in forecasts.items():
            tables.append(hub_rows(history, f, target))
            if available == 0:
                continue
            q = f.quantiles[:, :available].transpose(1, 2, 0)  # (h, L, Q)
            frame = pd.DataFrame(
                {
                    "model": name,
                    "origin": origin,
                    "origin_date": history.ends[origin - 1],
                    "horizon": np.repeat(np.arange(1, available + 1), len(names)),
                    "location": np.tile(names, available),
                    "level": np.tile(
                        ["region"] * regional + ["aggregate"] * (len(names) - regional),
                        available,
                    ),
                    "observed": observed.reshape(-1),
                    "median": q[..., median].reshape(-1),
                    "wis": weighted_interval_score(q, QUANTILE_LEVELS, observed).reshape(-1),
                    "cover50": interval_coverage(q, QUANTILE_LEVELS, observed, 0.5).reshape(-1),
                    "cover90": interval_coverage(q, QUANTILE_LEVELS, observed, 0.9).reshape(-1),
                }
            )
            frame["abs_error"] = (frame["observed"] - frame["median"]).abs()
            rows.append(frame)
    if not rows:
        raise CasesError("no model can forecast from these data")
    return Backtest(pd.concat(rows, ignore_index=True), pa.concat_tables(tables))


def _inverse_wis(scored: pd.DataFrame, origin: int) -> dict[str, float]:
    """Inverse mean WIS per component model over the regions' forecasts whose targets were
    observed before ``origin`` (no forecast uses data from its own future), from the latest
    :data:`WEIGHT_WINDOW` origins."""
    known = scored[
        (scored["origin"] + scored["horizon"] <= origin)
        & ~scored["model"].isin(ENSEMBLES)
        & (scored["level"] == "region")
    ]
    if known.empty:
        return {}
    latest = sorted(known["origin"].unique())[-WEIGHT_WINDOW:]
    mean = known[known["origin"].isin(latest)].groupby("model")["wis"].mean()
    return {m: 1.0 / max(v, 1e-9) for m, v in mean.items()}


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Per level (regions, aggregates), model and horizon: mean WIS, pairwise relative WIS
    (to the baseline when it is there), mean absolute error, and 50% and 90% coverage."""
    table = (
        scores.groupby(["level", "model", "horizon"])
        .agg(
            wis=("wis", "mean"),
            abs_error=("abs_error", "mean"),
            cover50=("cover50", "mean"),
            cover90=("cover90", "mean"),
            forecasts=("wis", "size"),
        )
        .reset_index()
    )
    relative = pairwise_relative_wis(scores, ["level", "horizon"])
    keys = pd.MultiIndex.from_frame(table[["level", "horizon", "model"]])
    table["relative_wis"] = relative.reindex(keys).to_numpy()
    return table


def pairwise_relative_wis(scores: pd.DataFrame, by: list[str]) -> pd.Series:
    """Relative WIS as the Forecast Hubs compute it (Cramer et al. 2022): for every pair of
    models, the ratio of their mean WIS over the forecasts both made; a model's skill is the
    geometric mean of its ratios to all models, divided by the baseline's (or, without a
    baseline, by the geometric mean of all). Indexed by ``by`` and ``model``; lower is better."""
    keys = ["origin", "horizon", "location"]
    out = []
    groups = scores.groupby(by) if by else [((), scores)]
    for group, frame in groups:
        wide = frame.pivot_table(index=keys, columns="model", values="wis", aggfunc="first")
        models = list(wide.columns)
        theta = np.ones(len(models))
        for a, m in enumerate(models):
            ratios = []
            for other in models:
                if other == m:
                    ratios.append(1.0)
                    continue
                both = wide[[m, other]].dropna()
                denominator = both[other].mean()
                if len(both) and denominator > 0:
                    ratios.append(both[m].mean() / denominator)
            theta[a] = np.exp(np.mean(np.log(np.maximum(ratios, 1e-12)))) if ratios else np.nan
        scale = theta[models.index("baseline")] if "baseline" in models else 1.0
        group = group if isinstance(group, tuple) else (group,)
        for m, value in zip(models, theta / scale, strict=True):
            out.append((*group, m, value))
    if not by:
        return pd.Series(
            [row[-1] for row in out],
            index=pd.Index([row[0] for row in out], name="model"),
            name="relative_wis",
        )
    index = pd.MultiIndex.from_tuples([row[:-1] for row in out], names=[*by, "model"])
    return pd.Series([row[-1] for row in out], index=index, name="relative_wis")


def relative_wis(scores: pd.DataFrame, by: list[str]) -> pd.Series:
    """Each model's mean WIS over the baseline's on the same forecasts (origin, horizon and
    location both scored), per group ``by``."""
    keys = ["origin", "horizon", "location"]
    base = scores[scores["model"] == "baseline"].set_index(keys)["wis"].rename("baseline_wis")
    paired = scores.join(base, on=keys, how="inner")
    sums = paired.groupby(by)[["wis", "baseline_wis"]].sum()
    return sums["wis"] / sums["baseline_wis"]


#: A single model replaces the ensemble as the default only when its relative WIS is below
#: this share of the ensemble's (a few origins' scores are noisy; ensembles are the safer bet).
CLEAR_WIN = 0.95


def choose_default(scores: pd.DataFrame) -> str:
    """The model with the lowest pairwise relative WIS over the regions' forecasts; the
    median ensemble unless that model beats it clearly (:data:`CLEAR_WIN`)."""
    regional = scores[scores["level"] == "region"]
    skill = pairwise_relative_wis(regional if not regional.empty else scores, []).dropna()
    winner = str(skill.idxmin())
    if ENSEMBLE in skill and winner != ENSEMBLE and skill[winner] > CLEAR_WIN * skill[ENSEMBLE]:
        return ENSEMBLE
    return winner


#: Latest origins the forecast command backtests to choose its default model.
SELECTION_ORIGINS = 8


def select(
    history: History,
    horizons: int,
    models: Sequence[str],
    seed: int = 0,
    registry: Mapping[str, PathModel | QuantileModel] | None = None,
    notes: list[str] | None = None,
) -> Selection:
    """Backtest the latest :data:`SELECTION_ORIGINS` origins with every target known (at
    least one); the winner becomes the default model and the scores weigh the weighted
    ensemble. Too little data: the ensemble by rule."""
    fallback = ENSEMBLE if ENSEMBLE in models else models[0]
    last = history.periods - 1
    first = max(_minimum_origin(history), last - SELECTION_ORIGINS + 1)
    if first > last:
        return Selection(fallback, "too little data to backtest", {})
    try:
        run = backtest(
            history,
            horizons,
            models,
            first,
            seed=seed,
            registry=registry,
            skipped={},
            notes=notes,
            origins=range(first, last + 1),
            progress=f"Choosing the default model, {last + 1 - first} origins",
        )
    except CasesError as exc:
        return Selection(fallback, f"no backtest ({exc})", {})
    scores = run.scores
    winner = choose_default(scores)
    weights = _inverse_wis(scores, history.periods + horizons)
    origins = scores["origin"].nunique()
    return Selection(winner, f"lowest WIS over the latest {origins} origins", weights, scores)


def _minimum_origin(history: History) -> int:
    return max(3, min(history.periods // 2, 10 if history.unit == "day" else 6))
