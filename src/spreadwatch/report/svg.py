"""Static SVG charts and maps for reports that are small, print well and open offline.

Charts are plain SVG (no script): time series with bands, bars, a vertical marker ("forecast
starts") and axis titles. Maps draw every region with ``<use>`` of one shared, simplified
geometry (:func:`map_geometry`, written once per report), so a map costs a few kilobytes;
metropolitan insets reuse the same shapes.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import shapely

from spreadwatch import regions

#: Risk levels 1-4.
LEVEL_COLOURS = {1: "#2e7d32", 2: "#f9a825", 3: "#ef6c00", 4: "#c62828"}
NO_DATA = "#e6e9ed"
SERIES = ("#2166ac", "#b2182b", "#1b9e77", "#7570b3", "#d95f02", "#66a61e", "#e7298a", "#666666")
_ASPECT = math.cos(math.radians(36.0))
#: The style sheet of :func:`choropleth` maps.
MAP_STYLE = """
.map { display: flex; gap: .5rem; align-items: flex-start; flex-wrap: nowrap; }
.map-panel { margin: 0; }
.map-panel svg { width: 100%; height: auto; background: #fbfcfd; border: 1px solid #dde3ea; }
.map > .map-panel { flex: 0 1 420px; } .insets { flex: 0 1 170px; }
.insets { display: flex; flex-direction: column; gap: .4rem; }
.insets .map-panel { width: auto !important; }
.legend { display: flex; flex-wrap: wrap; gap: .3rem .9rem; font-size: .85rem; margin: .3rem 0; }
.key i { display: inline-block; width: 12px; height: 12px; margin-right: .3rem;
         vertical-align: -1px; border: 1px solid #bbb; }
"""
_FONT = "font-family=\"system-ui, 'Noto Sans KR', NanumGothic, sans-serif\""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def format_tick(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


@dataclass
class Line:
    name: str
    x: Sequence[dt.date]
    y: Sequence[float]
    colour: str = SERIES[0]
    dash: bool = False
    width: float = 2.0


@dataclass
class Band:
    name: str
    x: Sequence[dt.date]
    low: Sequence[float]
    high: Sequence[float]
    colour: str = SERIES[0]
    opacity: float = 0.2


@dataclass
class Bars:
    name: str
    x: Sequence[dt.date]
    y: Sequence[float]
    colour: str = "#9e9e9e"


@dataclass
class TimeChart:
    """A time-series chart; :meth:`svg` renders it."""

    x_title: str
    y_title: str
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    bars: list[Bars] = field(default_factory=list)
    markers: list[tuple[dt.date, str]] = field(default_factory=list)
    reference: float | None = None
    """A horizontal dotted line (Rt = 1)."""
    y_max: float | None = None
    width: int = 720
    height: int = 300
    title: str = ""

    def svg(self) -> str:
        left, right, top, bottom = 62, 14, 34 if self.title else 12, 62
        w, h = self.width - left - right, self.height - top - bottom
        xs = [d for s in (*self.lines, *self.bands, *self.bars) for d in s.x]
        ys = [v for s in self.lines for v in s.y] + [v for b in self.bands for v in b.high]
        ys += [v for b in self.bars for v in b.y]
        if self.reference is not None:
            ys.append(self.reference)
        finite = [v for v in ys if v is not None and math.isfinite(v)]
        if not xs or not finite:
            return ""
        x0, x1 = min(xs), max(xs)
        span = max((x1 - x0).days, 1)
        top_value = self.y_max if self.y_max is not None else max(finite)
        yticks = nice_ticks(0.0, max(top_value, 1e-9))
        y1 = yticks[-1]

        def px(d: dt.date) -> float:
            return left + w * (d - x0).days / span

        def py(v: float) -> float:
            return top + h * (1 - min(max(v, 0.0), y1) / y1)

        out = [
            f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" {_FONT} font-size="11">'
        ]
        if self.title:
            out.append(
                f'<text x="{left}" y="16" font-size="13" font-weight="600">{_e(self.title)}</text>'
            )
        for value in yticks:
            y = py(value)
            out.append(
                f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ec"/>'
            )
            out.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{format_tick(value)}</text>"
            )
        for d in _date_ticks(x0, x1):
            x = px(d)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + h}" y2="{top + h + 4}" stroke="#555"/>'
            )
            out.append(
                f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle">{d:%m-%d}</text>'
            )
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{top + h}" y2="{top + h}" stroke="#555"/>'
        )
        bar_width = max(1.0, 0.8 * w / (span + 1))
        for bars in self.bars:
            for d, v in zip(bars.x, bars.y, strict=True):
                if v is None or not v > 0:
                    continue
                y = py(v)
                out.append(
                    f'<rect x="{px(d) - bar_width / 2:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
                    f'height="{top + h - y:.1f}" fill="{bars.colour}"/>'
                )
        for band in self.bands:
            upper = [f"{px(d):.1f},{py(v):.1f}" for d, v in zip(band.x, band.high, strict=True)]
            lower = [f"{px(d):.1f},{py(v):.1f}" for d, v in zip(band.x, band.low, strict=True)]
            out.append(
                f'<polygon points="{" ".join(upper + lower[::-1])}" fill="{band.colour}" '
                f'fill-opacity="{band.opacity}" stroke="none"/>'
            )
        if self.reference is not None:
            y = py(self.reference)
            out.append(
                f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#333" '
                'stroke-dasharray="3 3"/>'
            )
        for line in self.lines:
            points = [
                f"{px(d):.1f},{py(v):.1f}"
                for d, v in zip(line.x, line.y, strict=True)
                if v is not None and math.isfinite(v)
            ]
            dash = ' stroke-dasharray="5 4"' if line.dash else ""
            out.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{line.colour}" '
                f'stroke-width="{line.width}"{dash}/>'
            )
        for d, label in self.markers:
            x = px(d)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + h}" stroke="#444" '
                'stroke-dasharray="2 3"/>'
            )
            out.append(f'<text x="{x + 4:.1f}" y="{top + 11}" fill="#444">{_e(label)}</text>')
        out.append(
            f'<text x="{left + w / 2:.1f}" y="{top + h + 32}" text-anchor="middle" '
            f'font-size="12">{_e(self.x_title)}</text>'
        )
        out.append(
            f'<text transform="translate(14 {top + h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" font-size="12">{_e(self.y_title)}</text>'
        )
        out.append(self._legend(left, top + h + 46))
        out.append("</svg>")
        return "".join(out)

    def _legend(self, x: float, y: float) -> str:
        items = [(b.name, b.colour, "bar") for b in self.bars]
        items += [(b.name, b.colour, "band") for b in self.bands if b.name]
        items += [
            (line.name, line.colour, "dashed" if line.dash else "line")
            for line in self.lines
            if line.name
        ]
        out = []
        for name, colour, kind in items:
            if kind in ("line", "dashed"):
                dash = ' stroke-dasharray="5 3"' if kind == "dashed" else ""
                out.append(
                    f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" '
                    f'stroke="{colour}" stroke-width="2"{dash}/>'
                )
            else:
                opacity = ' fill-opacity="0.35"' if kind == "band" else ""
                out.append(
                    f'<rect x="{x}" y="{y - 9}" width="18" height="9" fill="{colour}"{opacity}/>'
                )
            out.append(f'<text x="{x + 22}" y="{y}">{_e(name)}</text>')
            x += 30 + text_width(name)
        return "".join(out)


def text_width(text: str) -> float:
    """About how wide ``text`` is drawn at the charts' size: Hangul and other wide characters
    take twice a Latin letter's room."""
    return sum(12.0 if unicodedata.east_asian_width(c) in "WF" else 6.5 for c in text)


def _date_ticks(first: dt.date, last: dt.date) -> list[dt.date]:
    """Mondays, every one or several weeks so that about 4-10 ticks show."""
    weeks = max(1, math.ceil((last - first).days / 7 / 9))
    monday = first + dt.timedelta(days=(7 - first.weekday()) % 7)
    ticks = []
    while monday <= last:
        ticks.append(monday)
        monday += dt.timedelta(days=7 * weeks)
    return ticks


# -- maps ---------------------------------------------------------------------------------------

#: Map insets: name -> (lon_min, lat_min, lon_max, lat_max).
INSETS = {
    "seoul": (126.55, 37.2, 127.35, 37.75),
    "daegu": (128.35, 35.65, 128.8, 36.05),
    "busan": (128.75, 34.95, 129.35, 35.4),
}
_BOUNDS = (124.5, 33.0, 131.0, 38.7)
_SCALE = 100.0  # SVG units per degree of latitude


def _xy(lon: float, lat: float) -> tuple[float, float]:
    return (lon - _BOUNDS[0]) * _SCALE * _ASPECT, (_BOUNDS[3] - lat) * _SCALE


def _path(geometry: shapely.Geometry, tolerance: float) -> str:
    simple = shapely.simplify(geometry, tolerance, preserve_topology=True)
    parts = []
    for polygon in shapely.get_parts(simple):
        for ring in [polygon.exterior, *polygon.interiors] if hasattr(polygon, "exterior") else []:
            coords = np.asarray(ring.coords)
            if len(coords) < 4:
                continue
            points = [_xy(lon, lat) for lon, lat in coords[:-1]]
            parts.append("M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points) + "Z")
    return "".join(parts)


@cache
def map_geometry() -> str:
    """One hidden SVG holding every si-gun-gu (``#g<code>``) and sido (``#s<code>``) shape,
    simplified once; every map of the report refers to it."""
    out = ['<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>']
    for level, prefix, tolerance in (("sigungu", "g", 0.004), ("sido", "s", 0.006)):
        for row in regions.load(level).regions.itertuples(index=False):
            out.append(f'<path id="{prefix}{row.code}" d="{_path(row.geometry, tolerance)}"/>')
    out.append("</defs></svg>")
    return "".join(out)


@cache
def map_document() -> str:
    """A standalone SVG of every si-gun-gu (``path[data-code]`` in ``g.regions``) with the sido
    boundaries over them (``g.sido``), for the dashboard to colour; the coordinates are those of
    :func:`_xy` (longitude stretched by 1 / cos 36°, 100 units a degree)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{_view(_BOUNDS)}" '
        'preserveAspectRatio="xMidYMid meet"><g class="regions">'
    ]
    for row in regions.load("sigungu").regions.itertuples(index=False):
        out.append(f'<path data-code="{row.code}" d="{_path(row.geometry, 0.004)}"/>')
    out.append(
        '</g><g class="sido" fill="none" stroke="#37474f" stroke-width="0.9" pointer-events="none">'
    )
    for row in regions.load("sido").regions.itertuples(index=False):
        out.append(f'<path data-sido="{row.code}" d="{_path(row.geometry, 0.006)}"/>')
    out.append("</g></svg>")
    return "".join(out)


def _view(bounds: tuple[float, float, float, float]) -> str:
    x0, y1 = _xy(bounds[0], bounds[1])
    x1, y0 = _xy(bounds[2], bounds[3])
    return f"{x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}"


def choropleth(
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    legend: Sequence[tuple[str, str]],
    title: str,
    insets: Mapping[str, str] | None = None,
) -> str:
    """A map of si-gun-gu filled with ``colours`` (missing: grey; ``labels`` as tooltips),
    sido boundaries over them, a legend of ``(colour, label)``, and optional metropolitan
    insets (``{inset key: caption}`` of :data:`INSETS`)."""
    codes = regions.load("sigungu").regions["code"]
    shapes = "".join(
        f'<use href="#g{code}" fill="{colours.get(code, NO_DATA)}">'
        f"<title>{_e(labels.get(code, code))}</title></use>"
        for code in codes
    )
    sido = "".join(f'<use href="#s{code}"/>' for code in regions.load("sido").regions["code"])
    style = 'stroke="#fff" stroke-width="0.25"'
    outline = 'fill="none" stroke="#37474f" stroke-width="0.8"'

    def panel(bounds: tuple[float, float, float, float], width: int, caption: str) -> str:
        return (
            f'<figure class="map-panel" style="width:{width}px"><svg viewBox="{_view(bounds)}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img"><g {style}>{shapes}</g>'
            f"<g {outline}>{sido}</g></svg><figcaption>{_e(caption)}</figcaption></figure>"
        )

    main = panel(_BOUNDS, 420, title)
    extra = "".join(panel(INSETS[key], 190, caption) for key, caption in (insets or {}).items())
    keys = "".join(
        f'<span class="key"><i style="background:{colour}"></i>{_e(label)}</span>'
        for colour, label in legend
    )
    return (
        f'<div class="map">{main}<div class="insets">{extra}</div></div>'
        f'<div class="legend">{keys}</div>'
    )
