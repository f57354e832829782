"""The factors of the risk levels from the pipeline's tables, per ``date, region_code``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from spreadwatch.forecast.hub import default_model
from spreadwatch.infer.cases import CaseSeries
from spreadwatch.infer.rt import rt_table
from spreadwatch.risk.levels import household_signal, incidence_per_100k

KEYS = ["date", "region_code"]


def cases_frame(series: CaseSeries) -> pd.DataFrame:
    """Long ``date, region_code, confirmed`` of the reported span of each region."""
    rows = []
    for j, region in enumerate(series.regions):
        days = int(series.last[j]) + 1
        rows.append(
            pd.DataFrame(
                {
                    "date": pd.date_range(series.start, periods=days),
                    "region_code": region,
                    "confirmed": series.counts[:days, j],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def growth_from_forecasts(forecasts: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Forecast median of the next 7 days over the last 7 reported days, per region, dated
    on the latest origin, from the table's default model (see
    :func:`spreadwatch.forecast.hub.default_model`)."""
    table = forecasts[forecasts["model"] == default_model(forecasts)]
    origin = table["origin_date"].max()
    table = table[(table["origin_date"] == origin) & (table["output_type"] == "quantile")]
    median = table[np.isclose(table["output_type_id"].astype(float), 0.5)]
    step = (
        pd.to_datetime(median["target_end_date"]) - pd.to_datetime(median["origin_date"])
    ).dt.days
    median = median[step <= 7]
    ahead = median.groupby("location")["value"].sum() * 7 / step[step <= 7].max()
    recent = cases[pd.to_datetime(cases["date"]) > pd.Timestamp(origin) - pd.Timedelta(days=7)]
    recent = recent[pd.to_datetime(recent["date"]) <= pd.Timestamp(origin)]
    last = recent.groupby("region_code")["confirmed"].sum()
    growth = (ahead / last.reindex(ahead.index)).replace([np.inf, -np.inf], np.nan)
    return pd.DataFrame(
        {"date": pd.Timestamp(origin), "region_code": growth.index, "growth": growth.to_numpy()}
    )


def importation_per_100k(risk: pd.DataFrame, population: Mapping[str, float]) -> pd.DataFrame:
    """Expected infected arrivals over the last 7 days per 100,000 residents."""
    wide = risk.pivot_table(
        index="date", columns="region_code", values="expected_infected", aggfunc="sum"
    )
    wide.index = pd.to_datetime(wide.index)
    wide = wide.reindex(columns=[c for c in wide.columns if c in population])
    wide = wide.asfreq("D", fill_value=0.0).rolling(7, min_periods=1).sum()
    per = wide.div(pd.Series(population).reindex(wide.columns), axis=1) * 1e5
    return per.stack().dropna().rename("importation").reset_index()


def assemble(
    series: CaseSeries,
    population: Mapping[str, float],
    si_mean: float,
    si_sd: float,
    forecasts: pd.DataFrame | None = None,
    importation: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    rt_window: int = 7,
) -> pd.DataFrame:
    """``date, region_code`` and every factor known from the inputs given (Rt over windows of
    ``rt_window`` days)."""
    cases = cases_frame(series)
    frame = incidence_per_100k(cases, population)
    rt = rt_table(series, si_mean, si_sd, window=rt_window).to_pandas()
    rt = rt[rt["reliable"]][["region_code", "date", "mean"]].rename(columns={"mean": "rt"})
    parts = [rt.assign(date=pd.to_datetime(rt["date"]))]
    if forecasts is not None:
        parts.append(growth_from_forecasts(forecasts, cases))
    if importation is not None:
        parts.append(importation_per_100k(importation, population))
    if signals is not None:
        signals = signals.assign(date=pd.to_datetime(signals["date"]))
        parts.append(household_signal(signals))
    for part in parts:
        part["region_code"] = part["region_code"].astype(str)
        frame = frame.merge(part, on=KEYS, how="left")
    frame = frame[frame["region_code"].isin(series.regions)]
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame.reset_index(drop=True)
