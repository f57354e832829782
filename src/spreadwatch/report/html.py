"""A self-contained HTML report (plotly.js inlined once, no CDN, opens offline)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from spreadwatch import __version__
from spreadwatch.report.svg import MAP_STYLE

_STYLE = (
    """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans KR", sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem; color: #1d2733; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #dde3ea; }
.meta { color: #5b6b7c; } table { border-collapse: collapse; margin: .5rem 0; }
td, th { padding: .25rem .7rem; border-bottom: 1px solid #e8edf2; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { background: #f4f7fa; border-radius: 8px; padding: .8rem 1.1rem; min-width: 10rem; }
.card b { display: block; font-size: 1.5rem; }
"""
    + MAP_STYLE
)


@dataclass
class Section:
    """A titled part of the report: HTML fragments (figures or tables) and an intro line."""

    title: str
    intro: str = ""
    parts: list[str] = field(default_factory=list)


@dataclass
class Report:
    """An HTML report built from sections; figures share one inlined plotly.js."""

    title: str
    subtitle: str = ""
    cards: dict[str, str] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    def write(self, path: Path) -> Path:
        """Write the report as one self-contained HTML file."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        meta = f"{self.subtitle} · spreadwatch {__version__} · {stamp}"
        body.append(f'<p class="meta">{html.escape(meta)}</p>')
        if self.cards:
            body.append('<div class="cards">')
            for label, value in self.cards.items():
                body.append(
                    f'<div class="card"><b>{html.escape(value)}</b>{html.escape(label)}</div>'
                )
            body.append("</div>")
        for section in self.sections:
            body.append(f"<h2>{html.escape(section.title)}</h2>")
            if section.intro:
                body.append(f"<p>{html.escape(section.intro)}</p>")
            body.extend(section.parts)
        script = plotly.offline.get_plotlyjs()
        document = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style>"
            f'<script type="text/javascript">{script}</script></head><body>'
            + "\n".join(body)
            + "</body></html>"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        return path


def figure_html(fig: go.Figure) -> str:
    """A figure as an HTML fragment that relies on the report's inlined plotly.js."""
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"responsive": True})


def table_html(frame: pd.DataFrame, float_format: str = "{:,.1f}") -> str:
    """A DataFrame as a plain HTML table with thousands separators."""

    def fmt(value: object) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int) or (hasattr(value, "dtype") and "int" in str(value.dtype)):
            return f"{int(value):,}"
        if isinstance(value, float):
            # no nan or inf for a reader: not defined (e.g. relative to a WIS of 0) shows "–"
            return float_format.format(value) if math.isfinite(value) else "–"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def palette(i: int) -> tuple[int, int, int]:
    """The ``i``-th colour of the reports' qualitative palette, as RGB."""
    from plotly.colors import qualitative

    color = qualitative.D3[i % len(qualitative.D3)]
    return tuple(int(color[j : j + 2], 16) for j in (1, 3, 5))  # type: ignore[return-value]


def add_band(
    fig: go.Figure,
    x: object,
    low: object,
    high: object,
    rgb: tuple[int, int, int] = (31, 119, 180),
    opacity: float = 0.2,
    name: str | None = None,
    legendgroup: str | None = None,
) -> go.Figure:
    """A shaded band between ``low`` and ``high`` (in the legend as ``name`` when given)."""
    hidden = {
        "mode": "lines",
        "line": {"width": 0},
        "hoverinfo": "skip",
        "legendgroup": legendgroup,
    }
    fig.add_trace(go.Scatter(x=x, y=high, showlegend=False, **hidden))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            fill="tonexty",
            fillcolor=f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{opacity})",
            name=name,
            showlegend=name is not None,
            **hidden,
        )
    )
    return fig
