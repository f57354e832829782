"""The calibration report: posterior summaries, histograms and posterior-predictive fans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from spreadwatch.report.html import Report, Section, add_band, figure_html, table_html

if TYPE_CHECKING:
    from spreadwatch.infer.workflow import CalibrationResult

#: Regions with the most reported cases shown beside the total.
FAN_REGIONS = 6


def fan_chart(frame: pd.DataFrame, title: str) -> go.Figure:
    """Observed counts over the predictive median and its 50% and 90% bands."""
    fig = go.Figure()
    for low, high, opacity, width in (("q0.05", "q0.95", 0.18, 90), ("q0.25", "q0.75", 0.35, 50)):
        add_band(
            fig,
            frame["date"],
            frame[low],
            frame[high],
            opacity=opacity,
            name=f"{width}% predictive interval",
        )
    fig.add_trace(
        go.Scatter(
            x=frame["date"], y=frame["q0.5"], name="predictive median", line={"color": "#1f77b4"}
        )
    )
    fig.add_trace(
        go.Scatter(
            x=frame["date"],
            y=frame["observed"],
            mode="markers",
            name="reported",
            marker={"color": "#d62728", "size": 5},
        )
    )
    fig.update_layout(
        title=title,
        height=330,
        margin={"t": 40, "b": 30, "l": 50, "r": 10},
        yaxis_title="reported cases per day",
    )
    return fig


def write_calibration_report(result: CalibrationResult, path: Path) -> Path:
    posterior, problem = result.posterior, result.problem
    names = list(problem.priors)
    histograms = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    for i, name in enumerate(names, start=1):
        histograms.add_trace(
            go.Histogram(
                x=posterior.draws[name], nbinsx=30, showlegend=False, marker_color="#1f77b4"
            ),
            row=1,
            col=i,
        )
    histograms.update_layout(height=280, margin={"t": 40, "b": 30})
    predictive = result.predictive
    totals = (
        predictive[predictive["region_code"] != "total"]
        .groupby("region_code")["observed"]
        .sum()
        .sort_values(ascending=False)
    )
    shown = ["total", *totals.index[:FAN_REGIONS]]
    names_of = dict(
        zip(problem.scenario.regions.codes, problem.scenario.regions.names, strict=True)
    )
    fans = [
        figure_html(
            fan_chart(
                predictive[predictive["region_code"] == code],
                "All regions" if code == "total" else f"{names_of[code]} ({code})",
            )
        )
        for code in shown
    ]
    run = problem.scenario.config.run
    report = Report(
        title="Calibration to reported cases",
        subtitle=f"{problem.scenario.regions.size} regions, {run.start_date} to "
        f"{run.date(run.days - 1)}",
        cards={
            "particles": f"{len(posterior.log_likelihood):,}",
            "tempering steps": str(len(posterior.temperatures) - 1),
            "reported cases fitted": f"{int(problem.observed[problem.mask].sum()):,}",
            "log evidence": f"{posterior.log_evidence:,.1f}",
        },
    )
    report.sections.append(
        Section(
            "Posterior",
            "Equally weighted draws of a tempered sequential Monte Carlo sampler; fixed "
            "parameters are listed as such.",
            [table_html(result.summary, "{:,.3g}"), figure_html(histograms)],
        )
    )
    report.sections.append(
        Section(
            "Posterior predictive check",
            "Reported cases against simulated reports (model, reporting and negative-binomial "
            "noise) from posterior draws: about 90% of the points should fall in the light band.",
            fans,
        )
    )
    return report.write(path)
