"""The risk report: a map of the latest levels, their explanations, and levels over time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from spreadwatch import regions
from spreadwatch.report import svg
from spreadwatch.report.html import Report, Section, figure_html, table_html
from spreadwatch.report.texts import region_name
from spreadwatch.risk.levels import FACTORS, LEVEL_EDGES, LEVELS


def write_risk_report(levels: pd.DataFrame, path: Path) -> Path:
    latest_date = levels["date"].max()
    latest = levels[levels["date"] == latest_date]
    counts = latest["level_name"].value_counts()
    report = Report(
        title="Risk levels",
        subtitle=f"{latest['region_code'].nunique()} regions, "
        f"{levels['date'].min()} to {latest_date}",
        cards={name: str(int(counts.get(name, 0))) for name in LEVELS.values()},
    )
    parts = []
    known = set(regions.load("sigungu").regions["code"])
    if set(latest["region_code"]) <= known:
        level_of = latest.set_index("region_code")["level"].astype(int)
        names = {code: region_name("en", code) for code in level_of.index}
        parts.append(svg.map_geometry())
        parts.append(
            svg.choropleth(
                {code: svg.LEVEL_COLOURS[level] for code, level in level_of.items()},
                {
                    code: f"{names[code]}: level {level} ({LEVELS[level]})"
                    for code, level in level_of.items()
                },
                [
                    (svg.LEVEL_COLOURS[k], f"{k} {v} ({int(counts.get(v, 0))})")
                    for k, v in LEVELS.items()
                ],
                f"Risk level on {latest_date}",
                {"seoul": "Seoul area", "daegu": "Daegu", "busan": "Busan"},
            )
        )
    top = latest.sort_values(["level", "score"], ascending=False).head(20).copy()
    top.insert(1, "region", top["region_code"].map(lambda code: region_name("en", code)))
    parts.append(
        table_html(
            top[["region_code", "region", "level", "level_name", "score", "explanation"]],
            "{:,.2f}",
        )
    )
    report.sections.append(Section("Latest levels", "The highest-scoring regions first.", parts))
    over_time = levels.groupby(["date", "level"]).size().unstack("level", fill_value=0)
    fig = go.Figure()
    for level, name in LEVELS.items():
        if level in over_time:
            fig.add_trace(
                go.Scatter(
                    x=over_time.index,
                    y=over_time[level],
                    name=name,
                    stackgroup="one",
                    line={"color": svg.LEVEL_COLOURS[level]},
                )
            )
    fig.update_layout(height=320, yaxis_title="regions", margin={"t": 30, "b": 30})
    report.sections.append(Section("Regions by level over time", "", [figure_html(fig)]))
    rules = pd.DataFrame(
        [
            {
                "factor": f.label,
                "weight": f.weight,
                "1 point from": f.thresholds[0],
                "2 points from": f.thresholds[1],
                "3 points from": f.thresholds[2],
                "value": f.unit,
            }
            for f in FACTORS
        ]
    )
    edges = ", ".join(f"level {i + 2} from {edge}" for i, edge in enumerate(LEVEL_EDGES))
    report.sections.append(
        Section(
            "How levels are set",
            f"Score = weighted mean of the known factors' points; {edges}; incidence "
            "alone at 3 points means at least level 3.",
            [table_html(rules, "{:,.2f}")],
        )
    )
    return report.write(path)
