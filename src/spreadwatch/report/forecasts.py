"""The backtest report: scores by model and horizon, coverage, and fan charts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from spreadwatch.forecast.history import History
from spreadwatch.forecast.hub import QUANTILE_LEVELS
from spreadwatch.forecast.run import ENSEMBLE, forecast_at, locations, relative_wis, summarise
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
    return fig


def _fan(
    history: History, scores: pd.DataFrame, horizons: int, seed: int, registry: Mapping | None
) -> go.Figure:
    """Observed counts of the total (or the one region) with forecast fans of the ensemble
    (else the first model) at a few origins."""
    location = locations(history)[-1]
    truth = history.counts.sum(axis=1)
    models = list(dict.fromkeys(scores["model"]))
    shown = ENSEMBLE if ENSEMBLE in models else models[0]
    origins = sorted(scores["origin"].unique())
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
    low, high = (int(np.flatnonzero(np.isclose(QUANTILE_LEVELS, q))[0]) for q in (0.05, 0.95))
    mid = int(np.flatnonzero(np.isclose(QUANTILE_LEVELS, 0.5))[0])
    for k, origin in enumerate(pick):
        made = forecast_at(
            history, int(origin), horizons, models, seed, registry=registry, skipped={}
        )
        if shown not in made:
            continue
        f = made[shown]
        column = f.quantiles[:, :, -1]  # (Q, H) of the last location
        ends = [
            history.ends[origin - 1] + pd.Timedelta(days=history.step_days * (h + 1))
            for h in range(horizons)
        ]
        r, g, b = palette(k)
        color = f"rgb({r},{g},{b})"
        add_band(fig, ends, column[low], column[high], (r, g, b))
        fig.add_trace(
            go.Scatter(
                x=ends,
                y=column[mid],
                line={"color": color},
                name=f"{shown} from {history.ends[origin - 1]}",
            )
        )
    fig.update_layout(
        title=f"{location}: forecasts (median, 90% interval) at past origins",
        height=420,
        margin={"t": 40, "b": 30},
    )
    return fig


def write_backtest_report(
    history: History,
    scores: pd.DataFrame,
    path: Path,
    horizons: int,
    seed: int = 0,
    registry: Mapping | None = None,
) -> Path:
    summary = summarise(scores)
    overall = (
        scores.groupby("model", sort=False)
        .agg(
            wis=("wis", "mean"),
            cover50=("cover50", "mean"),
            cover90=("cover90", "mean"),
            forecasts=("wis", "size"),
        )
        .reset_index()
    )
    if "baseline" in set(overall["model"]):
        overall["relative wis"] = overall["model"].map(relative_wis(scores, ["model"]))
        by_region = relative_wis(scores, ["location", "model"]).unstack("model")
    else:
        by_region = scores.groupby(["location", "model"])["wis"].mean().unstack("model")
    totals = pd.Series(history.counts.sum(axis=0), index=list(history.regions))
    top = [r for r in totals.sort_values(ascending=False).index[:15] if r in by_region.index]
    region_table = by_region.loc[top].reset_index()
    unit = "daily" if history.unit == "day" else "weekly"
    report = Report(
        title="Forecast backtest",
        subtitle=f"{len(history.regions)} region(s), {unit} counts, "
        f"{scores['origin'].nunique()} origins, horizons 1-{horizons}",
        cards={row.model: f"WIS {row.wis:,.1f}" for row in overall.itertuples()},
    )
    report.sections.append(
        Section(
            "Scores",
            "Weighted interval score (Bracher et al. 2021) over the 23 quantiles, relative to "
            "the baseline on the same forecasts (below 1 is better), and the share of outcomes "
            "inside the 50% and 90% intervals.",
            [
                table_html(overall, "{:,.3f}"),
                figure_html(_by_horizon(summary, "wis", "Mean WIS by horizon", None)),
                figure_html(_by_horizon(summary, "cover90", "90% interval coverage", 0.9)),
                figure_html(_by_horizon(summary, "cover50", "50% interval coverage", 0.5)),
            ],
        )
    )
    report.sections.append(
        Section(
            "Forecasts at past origins",
            "",
            [figure_html(_fan(history, scores, horizons, seed, registry))],
        )
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
