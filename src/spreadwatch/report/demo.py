"""The end-to-end report: epidemic map and curves, main OD flows, data quality."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from spreadwatch import regions
from spreadwatch.report.html import Report, Section, add_band, figure_html, table_html
from spreadwatch.report.maps import flow_map, region_map

TOP_REGIONS = 8
TOP_FLOWS = 25


def epidemic_summary(states: pd.DataFrame, population: pd.Series) -> pd.DataFrame:
    """Per region: population, infections, attack rate, peak date and peak week of incidence.

    ``states`` is the long model output (date, region_code, compartment, value) with an
    ``incidence`` compartment of new infections per day.
    """
    incidence = states[states["compartment"] == "incidence"].pivot_table(
        index="date", columns="region_code", values="value", aggfunc="sum"
    )
    infections = incidence.sum()
    peak_date = incidence.idxmax()
    first_date = pd.Timestamp(incidence.index.min())
    summary = pd.DataFrame(
        {
            "population": population.reindex(incidence.columns).to_numpy(),
            "infections": infections.to_numpy(),
            "peak_date": pd.to_datetime(peak_date.to_numpy()),
        },
        index=incidence.columns,
    )
    summary["attack_rate"] = summary["infections"] / summary["population"]
    summary["peak_week"] = (summary["peak_date"] - first_date).dt.days // 7 + 1
    return summary


def _curves(states: pd.DataFrame, names: pd.Series, summary: pd.DataFrame) -> go.Figure:
    incidence = states[states["compartment"] == "incidence"]
    national = incidence.groupby("date")["value"].sum()
    fig = go.Figure(go.Scatter(x=national.index, y=national.to_numpy(), name="Korea", line_width=3))
    for code in summary.sort_values("infections", ascending=False).index[:TOP_REGIONS]:
        series = incidence[incidence["region_code"] == code].set_index("date")["value"]
        fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), name=names.get(code, code)))
    fig.update_layout(
        title="New infections per day: Korea and the most affected si-gun-gu",
        yaxis_title="infections / day",
        height=480,
        legend={"orientation": "h"},
    )
    return fig


def _fitted_vs_reported(
    states: pd.DataFrame, cases: pd.DataFrame, truth: pd.Series | None = None
) -> go.Figure:
    reported = cases.groupby("date")["confirmed"].sum()
    observed_until = pd.Timestamp(reported.index.max()) + pd.Timedelta(days=14)
    incidence = states[states["compartment"] == "incidence"]
    incidence = incidence[pd.to_datetime(incidence["date"]) <= observed_until]
    model = incidence.groupby("date")["value"].sum()
    traces: list[go.BaseTraceType] = [
        go.Scatter(x=model.index, y=model.to_numpy(), name="model: new infections"),
        go.Bar(x=reported.index, y=reported.to_numpy(), name="reported cases", opacity=0.6),
    ]
    if truth is not None:
        traces.append(
            go.Scatter(
                x=truth.index,
                y=truth.to_numpy(),
                name="true new infections (synthetic)",
                line={"dash": "dot"},
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        title="Model, reported cases and the synthetic truth, Korea",
        height=420,
        yaxis_title="people / day",
        legend={"orientation": "h"},
    )
    return fig


def top_flows(od_flows: pd.DataFrame, names: pd.Series, count: int = TOP_FLOWS) -> pd.DataFrame:
    """The strongest released origin-destination pairs, averaged over days."""
    released = od_flows[~od_flows["suppressed"]]
    days = max(od_flows["date"].nunique(), 1)
    pairs = released.groupby(["origin", "dest"], as_index=False)["trips"].sum()
    pairs["trips_per_day"] = pairs["trips"] / days
    pairs = pairs.sort_values("trips_per_day", ascending=False).head(count)
    return pd.DataFrame(
        {
            "origin": pairs["origin"].map(names).fillna(pairs["origin"]).to_numpy(),
            "destination": pairs["dest"].map(names).fillna(pairs["dest"]).to_numpy(),
            "trips / day": pairs["trips_per_day"].to_numpy(),
            "origin code": pairs["origin"].to_numpy(),
            "destination code": pairs["dest"].to_numpy(),
        }
    )


def _rt_section(rt: pd.DataFrame, names: pd.Series, r0: float | None) -> Section:
    """National Rt with its 95% interval, and the latest reliable Rt of the top regions."""
    total = rt[(rt["region_code"] == "total") & rt["mean"].notna()]
    fig = add_band(
        go.Figure(),
        total["date"],
        total["q0.025"],
        total["q0.975"],
        opacity=0.25,
        name="95% credible interval",
    )
    fig.add_trace(
        go.Scatter(
            x=total["date"], y=total["mean"], name="Rt (posterior mean)", line={"color": "#1f77b4"}
        )
    )
    if r0 is not None:
        fig.add_hline(y=r0, line_dash="dot", annotation_text=f"true R0 = {r0:g}")
    fig.add_hline(y=1.0, line_color="#888")
    fig.update_layout(height=340, yaxis_title="Rt (all si-gun-gu)", margin={"t": 30, "b": 30})
    latest = rt[(rt["region_code"] != "total") & rt["reliable"]].sort_values("date")
    latest = latest.groupby("region_code").tail(1).sort_values("cases", ascending=False).head(10)
    table = pd.DataFrame(
        {
            "region": [f"{names.get(c, c)} ({c})" for c in latest["region_code"]],
            "window end": pd.to_datetime(latest["date"]).dt.strftime("%Y-%m-%d").to_numpy(),
            "cases in window": latest["cases"].astype(int).to_numpy(),
            "Rt": latest["mean"].to_numpy(),
            "95% interval": [
                f"{a:.2f} - {b:.2f}"
                for a, b in zip(latest["q0.025"], latest["q0.975"], strict=True)
            ],
        }
    )
    return Section(
        "Reproduction number from reported cases",
        "Cori et al.'s renewal method over 7-day windows, with the synthetic disease's "
        "generation interval; regions are listed where a window held at least 12 cases.",
        [figure_html(fig), table_html(table, "{:,.2f}")],
    )


def quality_table(quality: dict[str, dict]) -> pd.DataFrame:
    """Per source: files, rows in, kept, quarantined by reason and duplicates removed."""
    rows = []
    for source, q in quality.items():
        rows.append((source, "rows in", q["rows_in"]))
        rows.append((source, "kept", q["rows_kept"]))
        rows += [
            (source, f"quarantined: {reason}", count)
            for reason, count in sorted(q["quarantined_by_reason"].items())
        ]
        rows.append((source, "exact duplicates removed", q["duplicates_removed"]))
    return pd.DataFrame(rows, columns=["source", "", "rows"])


def write_demo_report(
    path: Path,
    states: pd.DataFrame,
    od_flows: pd.DataFrame,
    quality: dict,
    cases: pd.DataFrame | None = None,
    subtitle: str = "",
    truth: pd.Series | None = None,
    privacy: Section | None = None,
    rt: pd.DataFrame | None = None,
    r0: float | None = None,
) -> Path:
    """Write the end-to-end report; ``states`` and ``od_flows`` follow the output contracts.

    ``privacy`` (from :func:`spreadwatch.report.privacy.dp_error_section`) follows the flows."""
    table = regions.load("sigungu").regions
    names = table.set_index("code")["name_en"]
    summary = epidemic_summary(states, table.set_index("code")["population"])
    national_infections = summary["infections"].sum()
    national_peak = (
        states[states["compartment"] == "incidence"].groupby("date")["value"].sum().idxmax()
    )
    report = Report(
        title="spreadwatch: synthetic Korea, end to end",
        subtitle=subtitle,
        cards={
            "location events ingested": f"{quality['location']['rows_kept']:,}",
            "rows quarantined": f"{sum(q['rows_quarantined'] for q in quality.values()):,}",
            "modelled infections": f"{national_infections:,.0f}",
            "national attack rate": f"{national_infections / summary['population'].sum():.1%}",
            "national peak": pd.Timestamp(national_peak).strftime("%Y-%m-%d"),
        },
    )
    report.sections.append(
        Section(
            "Epidemic by si-gun-gu",
            "Deterministic metapopulation SEIR over 229 si-gun-gu: residents mix where they "
            "spend the day, as measured by the commuting table of the carriers' data.",
            [
                figure_html(
                    region_map(
                        summary["attack_rate"],
                        "Attack rate by si-gun-gu",
                        "attack rate",
                        value_format=".1%",
                    )
                ),
                figure_html(
                    region_map(
                        summary["peak_week"].where(summary["infections"] >= 1),
                        "Week of peak incidence (regions with at least one infection)",
                        "peak week",
                        value_format=".0f",
                    )
                ),
                figure_html(_curves(states, names, summary)),
            ],
        )
    )
    if cases is not None and not cases.empty:
        report.sections.append(
            Section(
                "Model and reported cases",
                "The model is seeded from the earliest reported cases (scaled by the assumed "
                "ascertainment) and not fitted to the rest: `spreadwatch calibrate` fits it "
                "(docs/inference.md).",
                [figure_html(_fitted_vs_reported(states, cases, truth))],
            )
        )
    if rt is not None and rt["mean"].notna().any():
        report.sections.append(_rt_section(rt, names, r0))
    flows = top_flows(od_flows, names)
    report.sections.append(
        Section(
            "Main origin-destination flows",
            "Daily trips between si-gun-gu among observed subscribers (KST days); pairs below "
            "the k-anonymity threshold are suppressed and not shown.",
            [
                figure_html(
                    flow_map(
                        zip(
                            flows["origin code"],
                            flows["destination code"],
                            flows["trips / day"],
                            strict=True,
                        ),
                        names,
                        "Strongest origin-destination flows (observed subscribers)",
                    )
                ),
                table_html(flows.iloc[:, :3]),
            ],
        )
    )
    if privacy is not None:
        report.sections.append(privacy)
    report.sections.append(
        Section(
            "Data quality",
            "Every input row of every source is kept, quarantined with a reason, or removed as "
            "an exact duplicate.",
            [table_html(quality_table(quality))],
        )
    )
    top = summary.sort_values("infections", ascending=False).head(15)
    top_table = pd.DataFrame(
        {
            "region": [f"{names[c]} ({c})" for c in top.index],
            "population": top["population"].astype(int).to_numpy(),
            "infections": top["infections"].round().astype(int).to_numpy(),
            "attack rate %": (100 * top["attack_rate"]).to_numpy(),
            "peak": top["peak_date"].dt.strftime("%Y-%m-%d").to_numpy(),
        }
    )
    report.sections.append(Section("Most affected si-gun-gu", parts=[table_html(top_table)]))
    return report.write(path)
