"""The backtest report: scores by model and horizon, coverage, and fan charts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from spreadwatch.forecast.history import History
from spreadwatch.forecast.hub import TOTAL
from spreadwatch.forecast.run import (
    ENSEMBLE,
    Backtest,
    locations,
    pairwise_relative_wis,
    relative_wis,
    summarise,
)
from spreadwatch.report.html import Report, Section, add_band, figure_html, palette, table_html

#: Forecast origins shown in the fan chart.
FAN_ORIGINS = 4


def _by_horizon(summary: pd.DataFrame, column: str, title: str, nominal: float | None) -> go.Figure:
    fig = go.Figure()
    for i, (model, frame) in enumerate(summary.groupby("model", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=frame["horizon"],
                y=frame[column],
                name=model,
                mode="lines+markers",
                line={"color": qualitative.D3[i % 10]},
            )
        )
    if nominal is not None:
        fig.add_hline(y=nominal, line_dash="dot", annotation_text=f"nominal {nominal:.0%}")
    fig.update_layout(title=title, height=320, xaxis_title="horizon", margin={"t": 40, "b": 40})
    fig.update_xaxes(dtick=1)  # horizons are whole periods
    return fig


def _fan(history: History, forecasts: pd.DataFrame, shown: str) -> go.Figure:
    """Observed counts of the total (or the one region) with the fans ``shown`` made at a few
    past origins (median and 90% interval)."""
    location = TOTAL if TOTAL in history.aggregates else history.regions[0]
    position = locations(history).index(location)
    truth = history.with_aggregates(history.counts)[:, position]
    rows = forecasts[(forecasts["model"] == shown) & (forecasts["location"] == location)]
    origins = sorted(rows["origin_date"].unique())
    pick = origins[:: max(1, len(origins) // FAN_ORIGINS)][-FAN_ORIGINS:]
    fig = go.Figure(
        go.Scatter(
            x=list(history.ends),
            y=truth,
            mode="lines+markers",
            name="observed",
            line={"color": "#222"},
        )
    )
    for k, origin in enumerate(pick):
        fan = rows[(rows["origin_date"] == origin) & (rows["output_type"] == "quantile")]
        wide = fan.pivot_table(index="target_end_date", columns="output_type_id", values="value")
        ends = list(wide.index)
        r, g, b = palette(k)
        add_band(fig, ends, wide[0.05].to_numpy(), wide[0.95].to_numpy(), (r, g, b))
        fig.add_trace(
            go.Scatter(
                x=ends,
                y=wide[0.5].to_numpy(),
                line={"color": f"rgb({r},{g},{b})"},
                name=f"{shown} from {origin}",
            )
        )
    fig.update_layout(
        title=f"{location}: forecasts (median, 90% interval) at past origins",
        height=420,
        margin={"t": 40, "b": 30},
        xaxis_title="date",
        yaxis_title=f"cases per {history.unit}",
    )
    return fig


def _overall(scores: pd.DataFrame) -> pd.DataFrame:
    """Per level and model: mean WIS, pairwise relative WIS and coverage."""
    overall = (
        scores.groupby(["level", "model"], sort=False)
        .agg(
            wis=("wis", "mean"),
            cover50=("cover50", "mean"),
            cover90=("cover90", "mean"),
            forecasts=("wis", "size"),
        )
        .reset_index()
    )
    skill = pairwise_relative_wis(scores, ["level"])
    pairs = overall[["level", "model"]].itertuples(index=False)
    overall["relative_wis"] = [skill.get((level, model), np.nan) for level, model in pairs]
    return overall


def write_backtest_report(
    history: History, run: Backtest, path: Path, horizons: int, default: str | None = None
) -> Path:
    scores = run.scores
    summary = summarise(scores)
    overall = _overall(scores)
    models = list(dict.fromkeys(scores["model"]))
    shown = default if default in models else ENSEMBLE if ENSEMBLE in models else models[0]
    if "baseline" in models and len(history.regions) > 1:
        regional = scores[scores["level"] == "region"]
        by_region = relative_wis(regional, ["location", "model"]).unstack("model")
    else:
        by_region = scores.groupby(["location", "model"])["wis"].mean().unstack("model")
    totals = pd.Series(history.counts.sum(axis=0), index=list(history.regions))
    top = [r for r in totals.sort_values(ascending=False).index[:15] if r in by_region.index]
    region_table = by_region.loc[top].reset_index()
    unit = "daily" if history.unit == "day" else "weekly"
    level = "region" if len(history.regions) > 1 else overall["level"].iloc[0]
    cards = {
        row.model: f"WIS {row.wis:,.3g}"
        + ("" if np.isnan(row.relative_wis) else f" · relative {row.relative_wis:.2f}")
        for row in overall[overall["level"] == level].itertuples()
    }
    report = Report(
        title="Forecast backtest",
        subtitle=f"{len(history.regions)} region(s), {unit} counts, "
        f"{scores['origin'].nunique()} origins, horizons 1-{horizons}; default model: {shown}",
        cards=cards,
    )
    report.sections.append(
        Section(
            "Scores",
            "Weighted interval score (Bracher et al. 2021) over the 23 quantiles, for regions "
            "and for aggregates (the total, sido) apart; relative WIS is the pairwise measure "
            "of the Forecast Hubs (Cramer et al. 2022), to the baseline (below 1 is better); "
            "coverage is the share of outcomes inside the 50% and 90% intervals.",
            [
                table_html(overall, "{:,.3f}"),
                figure_html(
                    _by_horizon(
                        summary[summary["level"] == level], "wis", "Mean WIS by horizon", None
                    )
                ),
                figure_html(
                    _by_horizon(
                        summary[summary["level"] == level], "cover90", "90% interval coverage", 0.9
                    )
                ),
                figure_html(
                    _by_horizon(
                        summary[summary["level"] == level], "cover50", "50% interval coverage", 0.5
                    )
                ),
            ],
        )
    )
    forecasts = run.forecasts.to_pandas()
    report.sections.append(
        Section("Forecasts at past origins", "", [figure_html(_fan(history, forecasts, shown))])
    )
    if len(history.regions) > 1:
        report.sections.append(
            Section(
                "WIS by region relative to the baseline",
                "The regions with most cases.",
                [table_html(region_table, "{:,.2f}")],
            )
        )
    return report.write(path)
