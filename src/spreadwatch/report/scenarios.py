"""The scenario comparison report: what each scenario averts, curves, and maps side by side."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from spreadwatch import regions
from spreadwatch.model.scenarios import Comparison
from spreadwatch.report.html import Report, Section, add_band, figure_html, palette, table_html
from spreadwatch.report.maps import region_map

_SIDE_BY_SIDE = (
    '<div style="display:grid;grid-template-columns:repeat(auto-fill,minmax(390px,1fr));'
    'gap:.5rem">{}</div>'
)
_TILE = "<div>{}</div>"


def curves_figure(comparison: Comparison) -> go.Figure:
    """National daily infections: each scenario's median and 90% band."""
    curves = comparison.curves()
    fig = go.Figure()
    for i, name in enumerate(comparison.names):
        r, g, b = palette(i)
        frame = curves[curves["scenario"] == name]
        add_band(
            fig, frame["date"], frame["q0.05"], frame["q0.95"], (r, g, b), 0.18, legendgroup=name
        )
        fig.add_trace(
            go.Scatter(
                x=frame["date"],
                y=frame["q0.5"],
                name=name,
                legendgroup=name,
                line={"color": f"rgb({r},{g},{b})"},
            )
        )
    fig.update_layout(
        height=420,
        yaxis_title="new infections per day (median, 90% band)",
        margin={"t": 30, "b": 30},
    )
    return fig


def write_scenarios_report(comparison: Comparison, path: Path, particles: int, source: str) -> Path:
    summary = comparison.summary()
    shown = summary.assign(
        infections=summary["infections"].round(),
        averted=summary["averted"].round(),
        averted_share=(100 * summary["averted_share"]).round(1),
        peak_date=summary["peak_date"].dt.strftime("%Y-%m-%d"),
    )[
        [
            "scenario",
            "infections",
            "averted",
            "averted_share",
            "peak_date",
            "peak_shift_days",
            "peak_infections",
        ]
    ]
    shown = shown.rename(
        columns={
            "averted_share": "averted %",
            "peak_shift_days": "peak shift (days)",
            "peak_infections": "peak infections/day",
        }
    )
    report = Report(
        title="Scenario comparison",
        subtitle=f"{len(comparison.names) - 1} scenarios against the baseline, {particles} "
        f"particles each, parameters from {source}",
        cards={
            row.scenario: f"{100 * row.averted_share:.0f}% averted"
            for row in summary.itertuples()
            if row.scenario != "baseline"
        },
    )
    report.sections.append(
        Section(
            "What each scenario changes",
            "Medians over particles; every scenario uses the same parameter draws and random "
            "streams as the baseline, so averted infections and peak shifts are paired "
            "differences.",
            [table_html(shown, "{:,.1f}")],
        )
    )
    report.sections.append(
        Section("National infections", "", [figure_html(curves_figure(comparison))])
    )
    known = set(regions.load("sigungu").regions["code"])
    if set(comparison.codes) <= known:
        rates = comparison.attack_rates()
        top = float(rates["attack_rate"].max()) or 1.0
        tiles = []
        for name in comparison.names:
            values = rates[rates["scenario"] == name].set_index("region_code")["attack_rate"]
            fig = region_map(
                100 * values,
                name,
                "attack rate %",
                value_range=(0.0, 100 * top),
                height=520,
                width=380,
            )
            tiles.append(_TILE.format(figure_html(fig)))
        report.sections.append(
            Section(
                "Attack rate by si-gun-gu",
                "One colour scale for all maps.",
                [_SIDE_BY_SIDE.format("".join(tiles))],
            )
        )
    return report.write(path)
