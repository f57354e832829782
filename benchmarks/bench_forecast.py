"""Forecasts on real regional surveillance data against R's surveillance::hhh4, in one run.

Data: measles in the 17 districts of Weser-Ems, weekly, 2001-2002 (tests/forecast/data; R's
one-step-ahead forecasts stored beside it by make_hhh4_reference.R, each origin refitted).

* ``forecast_rel_wis_vs_hhh4``: mean WIS of spreadwatch's default model over the regions'
  one-step-ahead forecasts of weeks 53-104, over hhh4's (the better of its two references:
  seasonal endemic part, power-law neighbour weights with a log-population term, with and
  without seasonal epidemic parts). The default model at each origin is the one the forecast
  command would name there: the lowest WIS over the latest 8 origins, as ``select`` does.
* ``forecast_rel_wis_vs_baseline``: the same forecasts over the Forecast Hub baseline's.
* ``forecast_fit_vs_hhh4_speed``: hhh4's time to fit the power-law model to the whole series
  over ours (same data, same terms, same run; needs ``Rscript`` with surveillance).
* ``forecast_quantiles_above_population``: forecast quantiles above a region's population in
  every forecast of this run.

* ``forecast_mobility_vs_borders_wis``: on synthetic Korea where an epidemic seeded in Daegu
  spreads along travel (the synthetic truth's gravity model), the endemic-epidemic model's WIS
  coupled by measured flows over its WIS coupled by borders.

``SPREADWATCH_BENCH_FORECAST_FLU=1`` adds the same comparison on fluBYBW (140 districts,
2001-2008) as ``forecast_flu_rel_wis_vs_hhh4`` (a few minutes more).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spreadwatch.forecast import QUANTILE_LEVELS, weighted_interval_score
from spreadwatch.forecast.endemic import EndemicEpidemic, Spec
from spreadwatch.forecast.history import adjacency_orders, from_series, population_of
from spreadwatch.forecast.run import MODEL_NAMES, SELECTION_ORIGINS, backtest, choose_default
from spreadwatch.infer import read_cases

DATA = Path(__file__).resolve().parent.parent / "tests" / "forecast" / "data"
MODELS = list(MODEL_NAMES)
FITS = 20


def history_of(name: str):
    series = read_cases(DATA / f"{name}_cases.csv")
    residents, shares = population_of(DATA / f"{name}_population.csv", series.regions)
    orders = adjacency_orders(DATA / f"{name}_adjacency.csv", series.regions)
    return from_series(series, "week", orders, None, residents, shares, "start")


def hhh4_wis(name: str) -> dict[str, float]:
    """Mean WIS of R's stored one-step-ahead forecasts, per specification."""
    table = pd.read_csv(DATA / f"{name}_hhh4_osa.csv", dtype={"region_code": str})
    columns = [c for c in table.columns if c.startswith("q")]
    out = {}
    for spec, frame in table.groupby("spec"):
        q = frame[columns].to_numpy()
        observed = frame["observed"].to_numpy()
        out[str(spec)] = float(weighted_interval_score(q, QUANTILE_LEVELS, observed).mean())
    return out


def chosen_by_origin(regional: pd.DataFrame, origins: range) -> pd.Series:
    """Per origin, the model the forecast command would name the default there: the lowest
    WIS over the latest :data:`SELECTION_ORIGINS` origins before it."""
    chosen = {}
    for origin in origins:
        recent = regional["origin"].between(origin - SELECTION_ORIGINS, origin - 1)
        chosen[origin] = choose_default(regional[recent])
    return pd.Series(chosen)


def above_population(history, forecasts: pd.DataFrame) -> int:
    if history.population is None:
        return 0
    cap = dict(zip(history.regions, history.population, strict=True))
    for name, members in history.aggregates.items():
        cap[name] = float(history.population[members].sum())
    return int((forecasts["value"] > forecasts["location"].map(cap)).sum())


def compare(name: str) -> dict[str, float]:
    history = history_of(name)
    reference = hhh4_wis(name)
    first = int(pd.read_csv(DATA / f"{name}_hhh4_osa.csv", usecols=["week"])["week"].min()) - 1
    run = backtest(history, 1, MODELS, first - SELECTION_ORIGINS, progress="")
    regional = run.scores[run.scores["level"] == "region"]
    chosen = chosen_by_origin(regional, range(first, history.periods))
    scored = regional[regional["origin"] >= first]
    per_model = scored.groupby("model")["wis"].mean()
    default = scored[scored["model"] == scored["origin"].map(chosen)]["wis"].mean()
    best_r = min(reference.values())
    print(f"{name}: hhh4 WIS {reference}")
    print(f"{name}: spreadwatch WIS by model\n{per_model.to_string()}")
    print(f"{name}: default model by origin: {chosen.value_counts().to_dict()}")
    return {
        "rel_hhh4": round(default / best_r, 3),
        "rel_baseline": round(default / per_model["baseline"], 3),
        "endemic_rel_hhh4": round(per_model["endemic-epidemic"] / best_r, 3),
        "above": above_population(history, run.forecasts.to_pandas()),
    }


def fit_speed(name: str) -> float | None:
    """hhh4's fit time over ours for the power-law model on the whole series."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: no speed comparison (apt-get install r-cran-surveillance)")
        return None
    history = history_of(name)
    model = EndemicEpidemic(Spec(coupling="power-law"))
    model.fit(history).standard_errors()  # warm
    began = time.perf_counter()
    for _ in range(FITS):
        model.fit(history).standard_errors()  # hhh4's fit computes them too
    ours = (time.perf_counter() - began) / FITS
    script = f"""
suppressPackageStartupMessages(library(surveillance))
data("measlesWeserEms"); sts <- measlesWeserEms
neighbourhood(sts) <- nbOrder(neighbourhood(sts), maxlag = Inf)
pop <- population(sts)
control <- list(end = list(f = addSeason2formula(~1 + t, S = 1, period = 52), offset = pop),
  ar = list(f = ~1), ne = list(f = ~1 + log(pop), weights = W_powerlaw(maxlag = 5)),
  family = "NegBin1", data = list(pop = pop))
fit <- hhh4(sts, control)
t <- system.time(for (i in 1:{FITS}) fit <- hhh4(sts, control))[["elapsed"]]
cat(t / {FITS}, "\\n")
"""
    try:
        done = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, timeout=600, check=True
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"hhh4 timing failed: {exc}")
        return None
    theirs = float(done.stdout.split()[-1])
    print(f"fit of the power-law model: hhh4 {theirs * 1000:.1f} ms, ours {ours * 1000:.1f} ms")
    return round(theirs / ours, 2)


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    measles = compare("measles")
    figures["forecast_rel_wis_vs_hhh4"] = measles["rel_hhh4"]
    figures["forecast_rel_wis_vs_baseline"] = measles["rel_baseline"]
    figures["forecast_endemic_rel_wis_vs_hhh4"] = measles["endemic_rel_hhh4"]
    above = measles["above"]
    if os.environ.get("SPREADWATCH_BENCH_FORECAST_FLU") == "1":
        flu = compare("flu")
        figures["forecast_flu_rel_wis_vs_hhh4"] = flu["rel_hhh4"]
        figures["forecast_flu_rel_wis_vs_baseline"] = flu["rel_baseline"]
        above += flu["above"]
    figures["forecast_quantiles_above_population"] = above
    figures["forecast_mobility_vs_borders_wis"] = mobility_gain(15.0)
    speed = fit_speed("measles")
    if speed is not None:
        figures["forecast_fit_vs_hhh4_speed"] = speed
    return figures


def mobility_world(d0_km: float, days: int = 56, seed: int = 7):
    """Synthetic Korea where an epidemic seeded in Daegu spreads along travel (the synthetic
    truth's gravity model, trips decaying over ``d0_km``): daily counts from an
    endemic-epidemic process with those weights, the flows a carrier would measure (trips
    sampled from the same model) and the borders; as two histories, with and without flows."""
    from spreadwatch.forecast.coupling import normalised
    from spreadwatch.forecast.history import History
    from spreadwatch.synth.config import MobilityConfig
    from spreadwatch.synth.geography import Geography, commuting_matrix

    rng = np.random.default_rng(seed)
    geo = Geography.load()
    truth = normalised(commuting_matrix(geo, MobilityConfig(d0_km=d0_km)))
    trips = rng.multinomial(2_000, truth)  # ~2,000 measured trips per region and day
    measured = normalised(trips.astype(float))
    codes = tuple(geo.codes)
    residents, shares = population_of(None, codes)
    orders = adjacency_orders(None, codes)
    counts = np.zeros((days, len(codes)))
    counts[0, geo.index_of("22040")] = 30  # Nam-gu, Daegu
    lam, phi, endemic, size = 0.45, 0.6, 2.0, 4.0
    for t in range(1, days):
        mu = lam * counts[t - 1] + phi * (counts[t - 1] @ truth) + endemic * shares
        counts[t] = rng.negative_binomial(size, size / (size + mu))
    ends = tuple(pd.Timestamp("2021-01-01").date() + pd.Timedelta(days=d) for d in range(days))
    with_flows = History(codes, counts, ends, "day", orders, measured, residents, shares)
    borders_only = History(codes, counts, ends, "day", orders, None, residents, shares)
    return with_flows, borders_only


def mobility_gain(d0_km: float) -> float:
    """WIS of the endemic-epidemic model coupled by measured mobility over the same model
    coupled by borders (a power law of neighbourhood orders), on the mobility world."""
    with_flows, borders_only = mobility_world(d0_km)
    model = ["endemic-epidemic"]
    origins = range(28, with_flows.periods, 3)
    flows = backtest(with_flows, 7, model, 0, origins=origins, progress="").scores
    borders = backtest(borders_only, 7, model, 0, origins=origins, progress="").scores
    ratio = (
        flows.query("level == 'region'")["wis"].mean()
        / borders.query("level == 'region'")["wis"].mean()
    )
    print(f"travel over {d0_km:g} km: WIS with measured flows / with borders = {ratio:.3f}")
    return round(float(ratio), 3)
