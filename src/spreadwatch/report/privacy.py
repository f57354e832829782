"""Report section: error of differentially private OD flows against epsilon.

The exact counts are computed once (for every contribution bound at the same time); each epsilon
then only draws OpenDP noise. These releases are evaluations: they are not charged to any
ledger and never leave the report as data (only the error statistics do).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from spreadwatch.fusion import mobility
from spreadwatch.release import bounding, dp
from spreadwatch.report.html import Section, figure_html, table_html

DEFAULT_EPSILONS = (0.1, 0.3, 1.0, 3.0, 10.0)
#: Cells per epsilon and bound on which the error is measured (a uniform sample of the key set).
DEFAULT_SAMPLE_CELLS = 20_000
#: Flows with at least this many (unbounded) trips a day count as large in the table.
LARGE_FLOW = 20
TITLE = "Differentially private OD flows: error against epsilon"


def od_counts_by_bound(
    events: ir.Table, keys: dp.KeySpace, bounds: Sequence[int]
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Exact OD counts in key order for each contribution bound, and without a bound, from one
    query (trips grouped by their rank within the subscriber-day, capped at the largest bound)."""
    if not bounds:
        raise ValueError("no contribution bound to evaluate")
    cap = max(bounds)
    trips = bounding.bounded_trips(events, keys, cap)
    capped = ibis.least(trips["rank"], cap).name("capped")
    counts = (
        trips.group_by(["date", "origin", "dest", capped]).agg(trips=trips.count()).to_pyarrow()
    )
    ranks = counts["capped"].to_numpy()
    by_rank = {}
    for r in range(cap + 1):
        by_rank[r] = keys.dense_od(counts.filter(ranks == r), "trips")
    unbounded = sum(by_rank.values())
    bounded = {b: sum(by_rank[r] for r in range(b)) for b in bounds}
    return bounded, np.asarray(unbounded, dtype=np.int64)


def error_table(
    bounded: dict[int, np.ndarray],
    unbounded: np.ndarray,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    sample_cells: int | None = DEFAULT_SAMPLE_CELLS,
    seed: int = 0,
) -> pd.DataFrame:
    """Released minus exact OD counts for each bound and epsilon.

    Columns: ``max_trips_per_day, epsilon, scale, cells, mae_bounded, mae_unbounded,
    relative_bounded, relative_unbounded, relative_large, bounding_bias``. MAE is the mean
    absolute error per cell; relative error is the sum of absolute errors over the sum of the
    exact counts; ``relative_large`` is the median relative error (vs unbounded) of the cells with
    at least :data:`LARGE_FLOW` trips; the bounding bias is the share of trips the bound removes.
    The error is measured on a uniform random sample of ``sample_cells`` cells (the same for
    every row; all cells when ``None``).
    """
    size = len(unbounded)
    if sample_cells is not None and sample_cells < size:
        sample = np.sort(np.random.default_rng(seed).choice(size, sample_cells, replace=False))
    else:
        sample = np.arange(size)
    truth = unbounded[sample]
    large = truth >= LARGE_FLOW
    rows = []
    for bound, counts in sorted(bounded.items()):
        exact = counts[sample]
        bias = 1.0 - counts.sum() / unbounded.sum() if unbounded.sum() else 0.0
        for epsilon in epsilons:
            mechanism = dp.Mechanism.calibrate(bound, epsilon)
            released = dp.post_process(mechanism.add_noise(exact))
            rows.append(
                {
                    "max_trips_per_day": bound,
                    "epsilon": float(epsilon),
                    "scale": mechanism.scale,
                    "cells": len(sample),
                    "mae_bounded": float(np.abs(released - exact).mean()),
                    "mae_unbounded": float(np.abs(released - truth).mean()),
                    "relative_bounded": _relative(released, exact),
                    "relative_unbounded": _relative(released, truth),
                    "relative_large": float(
                        np.median(np.abs(released[large] - truth[large]) / truth[large])
                    )
                    if large.any()
                    else float("nan"),
                    "bounding_bias": float(bias),
                }
            )
    return pd.DataFrame(rows)


def _relative(released: np.ndarray, exact: np.ndarray) -> float:
    total = exact.sum()
    return float(np.abs(released - exact).sum() / total) if total else float("nan")


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def error_figure(errors: pd.DataFrame) -> go.Figure:
    """MAE and relative error against epsilon (log-log), per bound, vs bounded and unbounded."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Mean absolute error per OD cell", "Relative error (Σ|error| / Σ trips)"),
    )
    for i, (bound, rows) in enumerate(errors.groupby("max_trips_per_day")):
        colour = _COLOURS[i % len(_COLOURS)]
        for col, metric in ((1, "mae"), (2, "relative")):
            for ref, dash in (("bounded", "solid"), ("unbounded", "dash")):
                fig.add_trace(
                    go.Scatter(
                        x=rows["epsilon"],
                        y=rows[f"{metric}_{ref}"],
                        mode="lines+markers",
                        line={"color": colour, "dash": dash},
                        name=f"≤ {bound} trips/day, vs {ref} counts",
                        legendgroup=f"{bound}-{ref}",
                        showlegend=col == 1,
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(type="log", title_text="epsilon per subscriber-day")
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="trips", row=1, col=1)
    fig.update_yaxes(title_text="share of all trips", tickformat=".1%", row=1, col=2)
    fig.update_layout(
        title="Error of released OD flows against epsilon",
        height=460,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def summary_frame(errors: pd.DataFrame) -> pd.DataFrame:
    """The error table as shown in the report."""
    return pd.DataFrame(
        {
            "trips/day bound": errors["max_trips_per_day"].to_numpy(),
            "epsilon": errors["epsilon"].map("{:g}".format).to_numpy(),
            "noise scale": errors["scale"].to_numpy(),
            "MAE vs bounded": errors["mae_bounded"].to_numpy(),
            "MAE vs unbounded": errors["mae_unbounded"].to_numpy(),
            "rel. error vs bounded %": (100 * errors["relative_bounded"]).to_numpy(),
            "rel. error vs unbounded %": (100 * errors["relative_unbounded"]).to_numpy(),
            f"median rel. error, flows ≥ {LARGE_FLOW} %": (
                100 * errors["relative_large"]
            ).to_numpy(),
        }
    )


def dp_errors(
    events: ir.Table | Path | str,
    keys: dp.KeySpace,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    bounds: Sequence[int] = (dp.DEFAULT_MAX_TRIPS_PER_DAY,),
    sample_cells: int | None = DEFAULT_SAMPLE_CELLS,
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """The error of DP OD flows against epsilon (nothing is charged), and a paragraph saying
    how it was measured."""
    if not isinstance(events, ir.Table):
        con = mobility.connect()
        events = con.read_parquet([str(f) for f in dp.event_files(events)])
    bounded, unbounded = od_counts_by_bound(events, keys, bounds)
    errors = error_table(bounded, unbounded, epsilons, sample_cells, seed)
    cells = errors["cells"].iloc[0]
    bias = ", ".join(
        f"{b} trips/day removes {rows['bounding_bias'].iloc[0]:.1%} of trips"
        for b, rows in errors.groupby("max_trips_per_day")
    )
    intro = (
        f"Each subscriber adds at most a bounded number of trips per day (bounding: {bias}); "
        "OpenDP's discrete Laplace noise of scale bound / epsilon is added to every ordered "
        f"pair of the {len(keys.regions)} regions on each of {keys.days} days, observed or not, "
        "and negative counts are set to 0. The error against the exact bounded counts is noise "
        "and clamping only; against the exact unbounded counts it adds the bias of bounding. "
        "The relative error sums over every cell, most of them empty; the table also gives the "
        f"median relative error of flows of at least {LARGE_FLOW} trips a day. Measured on a "
        f"uniform random sample of {cells:,} of {keys.od_size:,} cells; these evaluation "
        "releases are not charged to any ledger."
    )
    return errors, intro


def dp_error_section(errors: pd.DataFrame, intro: str) -> Section:
    """The report section on the error of DP OD flows against epsilon, from :func:`dp_errors`."""
    return Section(
        TITLE,
        intro + " Solid lines: against bounded counts; dashed: against unbounded counts.",
        [figure_html(error_figure(errors)), table_html(summary_frame(errors), "{:,.2f}")],
    )
