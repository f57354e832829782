"""Maps of Korea drawn as plain SVG shapes (filled scatter traces on longitude/latitude axes).

No tiles, no WebGL and no topojson download: the maps open offline in any browser and render in
a headless one. Longitude is stretched by ``1 / cos(36°)`` so that shapes keep their proportions
at Korea's latitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import shapely
from plotly.colors import sample_colorscale

from spreadwatch import regions

COLORSCALE = "YlOrRd"
NO_DATA = "#eef1f4"
_ASPECT = 1 / math.cos(math.radians(36.0))


def _rings(geometry: shapely.Geometry) -> tuple[list[float | None], list[float | None]]:
    """Exterior rings of a (multi)polygon as lon/lat lists, parts separated by ``None``."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for part in shapely.get_parts(geometry):
        coords = np.asarray(part.exterior.coords) if hasattr(part, "exterior") else np.empty((0, 2))
        xs += [*coords[:, 0].round(4).tolist(), None]
        ys += [*coords[:, 1].round(4).tolist(), None]
    return xs, ys


def _map_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(
        title=title,
        height=height,
        plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={**hidden, "constrain": "domain"},
        yaxis={**hidden, "scaleanchor": "x", "scaleratio": _ASPECT},
        hoverlabel={"namelength": -1},
    )
    return fig


def _outline_trace(level: regions.Level, color: str = "#9aa5b1") -> go.Scatter:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for geometry in regions.load(level).regions["geometry_simplified"]:
        x, y = _rings(geometry)
        xs += x
        ys += y
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"width": 0.6, "color": color},
        hoverinfo="skip",
        showlegend=False,
    )


def region_map(
    values: pd.Series,
    title: str,
    colorbar: str,
    level: regions.Level = "sigungu",
    value_format: str = ".3g",
    value_range: tuple[float, float] | None = None,
    height: int = 720,
    width: int | None = None,
) -> go.Figure:
    """Regions coloured by ``values`` (indexed by region code); regions without a value are grey.
    ``value_range`` fixes the colour scale (maps side by side share one)."""
    table = regions.load(level).regions.copy()
    table["area"] = shapely.area(table["geometry_simplified"].to_numpy())
    table = table.sort_values("area", ascending=False)  # enclosed regions drawn last, on top
    finite = values.replace([np.inf, -np.inf], np.nan).dropna()
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if value_range is not None:
        low, high = value_range
    span = high - low or 1.0
    fig = go.Figure()
    for row in table.itertuples(index=False):
        value = finite.get(row.code)
        share = None if value is None else min(max((value - low) / span, 0.0), 1.0)
        color = NO_DATA if share is None else sample_colorscale(COLORSCALE, share)[0]
        shown = "no data" if value is None else format(value, value_format)
        x, y = _rings(row.geometry_simplified)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                fill="toself",
                fillcolor=color,
                mode="lines",
                line={"width": 0.4, "color": "#6b7785"},
                hoveron="fills",
                name=f"{row.name_en} {row.name_ko}: {shown}",
                text=f"{row.name_en} ({row.name_ko}, {row.code})<br>{colorbar}: {shown}",
                hoverinfo="text",
                showlegend=False,
            )
        )
    fig.add_trace(_colorbar_trace(low, high, colorbar, table))
    fig = _map_layout(fig, title, height=height)
    if width is not None:  # a fixed size, for maps side by side
        fig.update_layout(width=width, autosize=False)
    return fig


def _colorbar_trace(low: float, high: float, title: str, table: pd.DataFrame) -> go.Scatter:
    """An invisible marker that carries the colour bar."""
    return go.Scatter(
        x=[table["label_lon"].iloc[0]] * 2,
        y=[table["label_lat"].iloc[0]] * 2,
        mode="markers",
        marker={
            "color": [low, high],
            "colorscale": COLORSCALE,
            "cmin": low,
            "cmax": high,
            "opacity": 0,
            "colorbar": {"title": {"text": title}, "thickness": 14},
            "showscale": True,
        },
        hoverinfo="skip",
        showlegend=False,
    )


def flow_map(flows: Iterable[tuple[str, str, float]], names: pd.Series, title: str) -> go.Figure:
    """Lines between region label points, width by volume, over the sido outlines.

    ``flows`` yields ``(origin code, destination code, volume per day)``.
    """
    table = regions.load("sigungu").regions.set_index("code")
    flows = list(flows)
    widest = max((v for _, _, v in flows), default=1.0) or 1.0
    fig = go.Figure(_outline_trace("sido"))
    for origin, dest, volume in flows:
        a, b = table.loc[origin], table.loc[dest]
        label = f"{names.get(origin, origin)} → {names.get(dest, dest)}: {volume:,.0f} / day"
        fig.add_trace(
            go.Scatter(
                x=[a["label_lon"], b["label_lon"]],
                y=[a["label_lat"], b["label_lat"]],
                mode="lines+markers",
                line={"width": 1 + 7 * volume / widest, "color": "rgba(192,57,43,0.7)"},
                marker={"size": 4, "color": "#7b241c"},
                text=[label, label],
                hoverinfo="text",
                showlegend=False,
            )
        )
    return _map_layout(fig, title, height=720)
