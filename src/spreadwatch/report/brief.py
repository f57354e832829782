"""The demo's report as a brief: the situation in five numbers with intervals, the risk map and
what changed, the caveats; then forecasts, Rt, risk levels, scenarios, the synthetic truth
against what was inferred, mobility, importations, household signals, fine dust, data
quality and privacy. One small HTML file (static SVG, a shared map geometry, no script), in
Korean or English, with a print stylesheet; Chromium prints it to PDF when installed."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

from spreadwatch import __version__
from spreadwatch.report import svg
from spreadwatch.report.air import air_section
from spreadwatch.report.briefing import (
    Brief,
    _e,
)
from spreadwatch.report.headline import (
    _cards,
    _caveats,
    _changes,
    _risk_map,
)
from spreadwatch.report.sections import (
    _forecast_section,
    _households_section,
    _importations_section,
    _levels_section,
    _mobility_section,
    _privacy_section,
    _proof_section,
    _quality_section,
    _rt_section,
    _scenarios_section,
)
from spreadwatch.report.texts import text

_STYLE = """
:root { --ink: #1d2733; --muted: #5b6b7c; --line: #dde3ea; }
body { font: 14px/1.5 system-ui, "Noto Sans KR", NanumGothic, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.2rem 1.5rem; color: var(--ink); }
h1 { margin: .2rem 0; font-size: 1.6rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { margin: 1rem 0 .3rem; font-size: 1.05rem; }
.meta, .intro, figcaption, .note { color: var(--muted); }
.badge { display: inline-block; background: #b71c1c; color: #fff; font-weight: 700;
         padding: .15rem .6rem;
         border-radius: 4px; letter-spacing: .04em; }
.caveat { background: #fff8e1; border: 1px solid #f3d27a; border-radius: 6px;
          padding: .6rem .9rem; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: .7rem; margin: 1rem 0; }
.card { background: #f4f7fa; border-radius: 8px; padding: .7rem .9rem; }
.card b { display: block; font-size: 1.45rem; line-height: 1.2; }
.card .label { font-weight: 600; } .card .sub { color: var(--muted); font-size: .85rem; }
.situation { display: grid; grid-template-columns: minmax(0, 1.3fr) minmax(0, 1fr); gap: 1rem; }
table { border-collapse: collapse; margin: .4rem 0; font-size: .9rem; }
td, th { padding: .22rem .6rem; border-bottom: 1px solid #e8edf2; text-align: right;
         vertical-align: top; }
td:first-child, th:first-child, td.text, th.text { text-align: left; }
th { color: var(--muted); font-weight: 600; }
svg.chart { width: 100%; max-width: 760px; height: auto; display: block; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1rem; }
.warn { color: #b71c1c; }
nav.top { float: right; font-size: .9rem; } nav.top a { margin-left: .8rem; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; } nav.top { display: none; }
  h2 { break-before: page; } h2.first { break-before: auto; }
  .cards { grid-template-columns: repeat(5, 1fr); } figure, table, svg { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def render(brief: Brief, lang: str, other: str | None = None) -> str:
    """The brief as one HTML document in ``lang`` (``other``: a link to the other edition)."""
    period = text(
        lang,
        "period",
        first=brief.first,
        last=brief.last,
        days=brief.settings.days,
        seed=brief.settings.seed,
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    link = f'<a href="{_e(other)}">{_e(text(lang, "other.edition"))}</a>' if other else ""
    head = (
        f'<nav class="top">{link}</nav>'
        f'<p><span class="badge">{_e(text(lang, "synthetic"))}</span></p>'
        f"<h1>{_e(text(lang, 'title'))}</h1>"
        f'<p class="meta">{_e(period)} · spreadwatch {__version__} · {stamp}</p>'
        f'<p class="caveat">{_e(text(lang, "caveat.synthetic"))}</p>'
    )
    situation = (
        _cards(brief, lang)
        + f'<div class="situation"><div>{_risk_map(brief, lang)}</div>'
        + f"<div>{_changes(brief, lang)}{_caveats(brief, lang)}</div></div>"
    )
    sections = [
        _forecast_section(brief, lang),
        _rt_section(brief, lang),
        _levels_section(brief, lang),
        _scenarios_section(brief, lang),
        _proof_section(brief, lang),
        _mobility_section(brief, lang),
        _importations_section(brief, lang),
        _households_section(brief, lang),
        air_section(brief, lang),
        _quality_section(brief, lang),
        _privacy_section(brief, lang),
    ]
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(text(lang, 'title'))} · {brief.last}</title>"
        f"<style>{_STYLE}{svg.MAP_STYLE}</style></head><body>"
        + svg.map_geometry()
        + head
        + situation
        + "".join(sections)
        + "</body></html>"
    )


def write_brief(brief: Brief, path: Path, lang: str = "ko") -> tuple[Path, Path | None]:
    """Write the brief in ``lang`` to ``path`` and the other edition beside it
    (``report.en.html`` or ``report.ko.html``), and print ``path`` to PDF with Chromium when
    it is installed. Returns the HTML and the PDF (or ``None``)."""
    other_lang = "en" if lang == "ko" else "ko"
    other = path.with_name(f"{path.stem}.{other_lang}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(brief, lang, other.name), encoding="utf-8")
    other.write_text(render(brief, other_lang, path.name), encoding="utf-8")
    return path, print_pdf(path)


def print_pdf(page: Path, timeout: float = 120.0) -> Path | None:
    """``page`` printed to ``page.pdf`` by headless Chromium (``None`` without Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    pdf = page.with_suffix(".pdf")
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}",
        page.resolve().as_uri(),
    ]
    try:
        subprocess.run(command, capture_output=True, timeout=timeout, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return pdf if pdf.exists() else None
