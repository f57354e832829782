"""The demo's report as a brief: the situation in five numbers with intervals, the risk map and
what changed, the caveats; then forecasts, Rt, risk levels, scenarios, the synthetic truth
against what was inferred, mobility, importations, household signals, data quality and
privacy. One small HTML file (static SVG, a shared map geometry, no script), in Korean or
English, with a print stylesheet; Chromium prints it to PDF when installed."""

from __future__ import annotations

import datetime as dt
import html
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch import __version__
from spreadwatch.forecast.hub import default_model, frame_of
from spreadwatch.report import svg
from spreadwatch.report.privacy import LARGE_FLOW
from spreadwatch.report.texts import region_name, text

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


@dataclass
class Brief:
    """Everything the brief shows (the demo's outputs)."""

    settings: object
    synth: object
    manifest: object
    quality: dict
    cases: pd.DataFrame
    rt: pd.DataFrame
    calibration: object
    projection: object
    forecasts: pa.Table
    levels: pd.DataFrame
    od_flows: pd.DataFrame
    importations: pd.DataFrame | None
    signals: pd.DataFrame | None
    privacy: tuple[pd.DataFrame, str] | None
    truth: Path

    @property
    def first(self) -> dt.date:
        return self.synth.start_date

    @property
    def last(self) -> dt.date:
        return self.first + dt.timedelta(days=self.settings.days - 1)

    @property
    def measure_date(self) -> dt.date | None:
        day = self.settings.measure_day
        return None if day is None else self.first + dt.timedelta(days=day)


def _e(value: object) -> str:
    return html.escape(str(value))


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _signed(share: float) -> str:
    """A relative change as a signed percentage with a true minus sign: −51%, +12%."""
    return f"{share:+.0%}".replace("-", "−")


def _table(headers: list[str], rows: list[list[object]], text_columns: int = 1) -> str:
    head = "".join(
        f'<th class="{"text" if i < text_columns else ""}">{_e(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if i < text_columns else ""}">{c}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- numbers ------------------------------------------------------------------------------------


def national_cases(brief: Brief) -> pd.Series:
    cases = brief.cases.groupby("date")["confirmed"].sum()
    cases.index = pd.to_datetime(cases.index).date
    return cases.sort_index()


def true_infections(brief: Brief) -> pd.Series:
    table = pq.read_table(brief.truth, columns=["date", "new_infections"]).to_pandas()
    series = table.groupby("date")["new_infections"].sum()
    series.index = pd.to_datetime(series.index).date
    return series.sort_index()


def quantiles(values: np.ndarray, levels=(0.05, 0.5, 0.95)) -> list[float]:
    return [float(q) for q in np.quantile(values, levels)]


def _cards(brief: Brief, lang: str) -> str:
    cards = []
    cases = national_cases(brief)
    last7, before7 = cases.iloc[-7:].sum(), cases.iloc[-14:-7].sum()
    change = (last7 - before7) / before7 if before7 > 0 else None
    cards.append(
        (
            text(lang, "card.cases"),
            _n(last7),
            text(lang, "card.cases.change", change=change) if change is not None else "",
        )
    )
    total = brief.rt[(brief.rt["region_code"] == "total") & brief.rt["reliable"].astype(bool)]
    if len(total):
        row = total.sort_values("date").iloc[-1]
        cards.append(
            (
                text(lang, "card.rt", date=row["date"]),
                f"{row['mean']:.2f}",
                text(lang, "card.rt.interval", low=row["q0.025"], high=row["q0.975"]),
            )
        )
    else:
        cards.append((text(lang, "card.rt", date=brief.last), text(lang, "card.none"), ""))
    so_far = brief.projection.daily["baseline"][:, : brief.settings.days].sum(axis=1)
    low, mid, high = quantiles(so_far)
    cards.append(
        (
            text(lang, "card.infections"),
            _n(mid),
            text(lang, "card.interval90", low=_n(low), high=_n(high)),
        )
    )
    draws = brief.calibration.posterior.draws
    if "change_factor" in draws:
        low, mid, high = quantiles(draws["change_factor"] - 1)  # -0.5: transmission halved
        cards.append(
            (
                text(lang, "card.measure", date=brief.measure_date),
                _signed(mid),
                text(lang, "card.interval90", low=_signed(low), high=_signed(high)),
            )
        )
    frame = frame_of(brief.forecasts)
    model = default_model(frame)
    horizon = int(frame["horizon"].max())
    ahead = frame[
        (frame["model"] == model)
        & (frame["location"] == "total")
        & (frame["horizon"] == horizon)
        & (frame["output_type"] == "quantile")
    ].set_index("output_type_id")["value"]
    cards.append(
        (
            text(lang, "card.forecast", days=horizon, model=text(lang, f"model.{model}")),
            _n(ahead[0.5]),
            text(lang, "card.interval90", low=_n(ahead[0.05]), high=_n(ahead[0.95])),
        )
    )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="label">{_e(label)}</span><b>{_e(value)}</b>'
            f'<span class="sub">{_e(sub)}</span></div>'
            for label, value, sub in cards
        )
        + "</div>"
    )


def _level_labels(lang: str) -> dict[int, str]:
    return {level: text(lang, f"level.{level}") for level in range(1, 5)}


def _risk_map(brief: Brief, lang: str) -> str:
    levels = brief.levels
    last = levels["date"].max()
    today = levels[levels["date"] == last].set_index("region_code")["level"].astype(int)
    labels = _level_labels(lang)
    colours = {code: svg.LEVEL_COLOURS[level] for code, level in today.items()}
    tips = {code: f"{region_name(lang, code)}: {labels[level]}" for code, level in today.items()}
    legend = [(svg.LEVEL_COLOURS[k], f"{v} ({(today == k).sum()})") for k, v in labels.items()]
    insets = {key: text(lang, f"inset.{key}") for key in svg.INSETS}
    return svg.choropleth(colours, tips, legend, text(lang, "risk.map", date=last), insets)


def _changes(brief: Brief, lang: str) -> str:
    levels = brief.levels
    last = levels["date"].max()
    week_ago = last - dt.timedelta(days=7)
    now = levels[levels["date"] == last].set_index("region_code")
    before = levels[levels["date"] == week_ago].set_index("region_code")["level"]
    joined = now.join(before.rename("before"), how="left")
    joined["before"] = joined["before"].fillna(1).astype(int)
    labels = _level_labels(lang)
    parts = [f"<h3>{_e(text(lang, 'changed'))}</h3>"]
    for key, rows in (
        ("changed.up", joined[joined["level"] > joined["before"]]),
        ("changed.down", joined[joined["level"] < joined["before"]]),
    ):
        if rows.empty:
            continue
        rows = rows.sort_values(["level", "score"], ascending=False).head(10)
        parts.append(f"<p><b>{_e(text(lang, key))}</b></p>")
        parts.append(
            _table(
                [text(lang, "region"), text(lang, "before"), text(lang, "now")],
                [
                    [_e(region_name(lang, c)), _e(labels[r.before]), _e(labels[int(r.level)])]
                    for c, r in rows.iterrows()
                ],
                3,
            )
        )
    if len(parts) == 1:
        parts.append(f"<p>{_e(text(lang, 'changed.none'))}</p>")
    cases = brief.cases.copy()
    cases["date"] = pd.to_datetime(cases["date"]).dt.date
    first_case = cases[cases["confirmed"] > 0].groupby("region_code")["date"].min()
    new = first_case[first_case > week_ago].sort_values()
    if len(new):
        names = ", ".join(region_name(lang, c) for c in new.index[:12])
        more = f" (+{len(new) - 12})" if len(new) > 12 else ""
        parts.append(f"<p><b>{_e(text(lang, 'changed.new'))}</b>: {_e(names + more)}</p>")
    return "".join(parts)


def _caveats(brief: Brief, lang: str) -> str:
    items = [
        text(lang, "caveat.synthetic"),
        text(
            lang,
            "caveat.ascertainment",
            share=brief.settings.ascertainment,
            delay=brief.settings.reporting_delay_days,
        ),
    ]
    if brief.measure_date is not None:
        items.append(text(lang, "caveat.measure", date=brief.measure_date))
    items += [text(lang, "caveat.forecast"), text(lang, "caveat.privacy", k=brief.settings.k)]
    return (
        f"<h3>{_e(text(lang, 'caveats'))}</h3><ul>"
        + "".join(f"<li>{_e(i)}</li>" for i in items)
        + "</ul>"
    )


# -- sections -----------------------------------------------------------------------------------


def _fan(brief: Brief, lang: str, location: str, model: str, frame: pd.DataFrame) -> str:
    part = frame[
        (frame["model"] == model)
        & (frame["location"] == location)
        & (frame["output_type"] == "quantile")
    ]
    wide = part.pivot_table(index="target_end_date", columns="output_type_id", values="value")
    wide.index = pd.to_datetime(wide.index).date
    if location == "total":
        observed = national_cases(brief)
    else:
        cases = brief.cases[brief.cases["region_code"].str.startswith(location)]
        observed = cases.groupby("date")["confirmed"].sum()
        observed.index = pd.to_datetime(observed.index).date
    observed = observed.iloc[-28:]
    x = list(wide.index)
    colour = svg.SERIES[0]
    chart = svg.TimeChart(
        text(lang, "axis.date"),
        text(lang, "axis.cases"),
        lines=[svg.Line(text(lang, "median"), x, wide[0.5].tolist(), colour)],
        bands=[
            svg.Band(
                text(lang, "band90"), x, wide[0.05].tolist(), wide[0.95].tolist(), colour, 0.18
            ),
            svg.Band(
                text(lang, "band50"), x, wide[0.25].tolist(), wide[0.75].tolist(), colour, 0.35
            ),
        ],
        bars=[svg.Bars(text(lang, "observed"), list(observed.index), observed.tolist())],
        markers=[(x[0], text(lang, "forecast.starts"))],
        title=region_name(lang, location),
        width=560,
        height=290,
    )
    return chart.svg()


def _forecast_section(brief: Brief, lang: str) -> str:
    frame = frame_of(brief.forecasts)
    model = default_model(frame)
    cases = brief.cases.copy()
    cases["sido"] = cases["region_code"].str[:2]
    top_sido = cases.groupby("sido")["confirmed"].sum().sort_values(ascending=False).index[:3]
    fans = [
        _fan(brief, lang, loc, model, frame)
        for loc in ["total", *top_sido]
        if loc in set(frame["location"])
    ]
    intro = text(lang, "forecast.intro", model=text(lang, f"model.{model}"))
    return _section(lang, "forecast", intro, '<div class="grid2">' + "".join(fans) + "</div>")


def _rt_section(brief: Brief, lang: str) -> str:
    rt = brief.rt.copy()
    rt["date"] = pd.to_datetime(rt["date"]).dt.date
    total = rt[(rt["region_code"] == "total") & rt["reliable"].astype(bool)].sort_values("date")
    parts = []
    if len(total):
        x = total["date"].tolist()
        chart = svg.TimeChart(
            text(lang, "axis.date"),
            text(lang, "axis.rt"),
            lines=[svg.Line(text(lang, "korea"), x, total["mean"].tolist(), svg.SERIES[1])],
            bands=[
                svg.Band(
                    text(lang, "rt.interval"),
                    x,
                    total["q0.025"].tolist(),
                    total["q0.975"].tolist(),
                    svg.SERIES[1],
                    0.2,
                )
            ],
            reference=1.0,
            markers=[(brief.measure_date, text(lang, "measure"))] if brief.measure_date else [],
        )
        parts.append(chart.svg())
    recent = rt["date"] > brief.last - dt.timedelta(days=7)
    regional = rt[(rt["region_code"] != "total") & rt["reliable"].astype(bool) & recent]
    latest = regional.sort_values("date").groupby("region_code").tail(1)
    top = latest.sort_values(["mean", "cases"], ascending=False).head(10)
    if len(top):
        parts.append(f"<h3>{_e(text(lang, 'rt.top'))}</h3>")
        parts.append(
            _table(
                [
                    text(lang, "region"),
                    "",
                    text(lang, "rt.mean"),
                    text(lang, "rt.interval"),
                    text(lang, "cases"),
                ],
                [
                    [
                        _e(region_name(lang, r["region_code"])),
                        _e(r["date"]),
                        f"{r['mean']:.2f}",
                        f"{r['q0.025']:.2f}–{r['q0.975']:.2f}",
                        _n(r["cases"]),
                    ]
                    for _, r in top.iterrows()
                ],
                2,
            )
        )
    return _section(
        lang, "rt", text(lang, "rt.intro", window=brief.settings.rt_window), "".join(parts)
    )


def explain(row: pd.Series, lang: str) -> str:
    """The factors of a risk level, largest contribution first, in the edition's words."""
    parts = []
    for factor in sorted(
        ("incidence", "rt", "growth", "importation", "household"),
        key=lambda f: -np.nan_to_num(row.get(f"{f}_contribution", np.nan)),
    ):
        value = row.get(factor)
        if value is None or not np.isfinite(value):
            continue
        points = int(row[f"{factor}_points"])
        unit = f" {text(lang, 'per100k')}" if factor == "incidence" else ""
        parts.append(
            f"{text(lang, f'factor.{factor}')} {value:.2f}{unit} ({points} {text(lang, 'points')})"
        )
    return f"{text(lang, 'score')} {row['score']:.2f}: " + "; ".join(parts)


def _levels_section(brief: Brief, lang: str) -> str:
    last = brief.levels["date"].max()
    today = brief.levels[(brief.levels["date"] == last) & (brief.levels["level"] >= 2)]
    today = today.sort_values(["level", "score"], ascending=False).head(25)
    labels = _level_labels(lang)
    if today.empty:
        body = f"<p>{_e(text(lang, 'levels.none'))}</p>"
    else:
        body = _table(
            [text(lang, "region"), text(lang, "level"), text(lang, "explanation")],
            [
                [
                    _e(region_name(lang, row["region_code"])),
                    _level_badge(int(row["level"]), labels),
                    _e(explain(row, lang)),
                ]
                for _, row in today.iterrows()
            ],
            3,
        )
    return _section(lang, "levels", text(lang, "levels.intro", date=last), body)


def _level_badge(level: int, labels: dict[int, str]) -> str:
    colour = svg.LEVEL_COLOURS[level]
    return f'<span style="color:{colour};font-weight:700">{_e(labels[level])}</span>'


def _scenario_name(lang: str, name: str) -> str:
    return text(lang, "baseline") if name == "baseline" else text(lang, f"scenario.{name}")


def _scenarios_section(brief: Brief, lang: str) -> str:
    comparison = brief.projection
    observed = brief.settings.days
    base = comparison.daily["baseline"]
    base_ahead = base[:, observed:].sum(axis=1)
    rows = []
    for name in comparison.names:
        daily = comparison.daily[name]
        ahead = daily[:, observed:].sum(axis=1)
        low, mid, high = quantiles(ahead)
        averted = base_ahead - ahead
        a_low, a_mid, a_high = quantiles(averted)
        share = float(np.median(averted / np.maximum(base_ahead, 1)))
        curve = np.median(daily[:, observed:], axis=0)  # the peak to come, not one past
        top = int(curve.argmax())
        if curve.max() <= 1.15 * curve[0]:  # no clear peak ahead: falling or about level
            key = "peak.past" if curve[-1] < 0.85 * curve[0] else "peak.flat"
            peak_text = _e(text(lang, key))
        else:
            peak_day = comparison.start + pd.Timedelta(days=observed + top)
            peak_text = f"{peak_day:%Y-%m-%d}"
            if top == len(curve) - 1:
                peak_text += f' <span class="warn">⚠ {_e(text(lang, "horizon.warning"))}</span>'
        rows.append(
            [
                _e(_scenario_name(lang, name)),
                f"{_n(mid)} ({_n(low)}–{_n(high)})",
                "–" if name == "baseline" else f"{_n(a_mid)} ({_n(a_low)}–{_n(a_high)})",
                "–" if name == "baseline" else f"{share:.0%}",
                peak_text,
            ]
        )
    table = _table(
        [
            text(lang, "scenario"),
            text(lang, "infections.ahead"),
            text(lang, "averted"),
            text(lang, "averted.share"),
            text(lang, "peak"),
        ],
        rows,
    )
    curves = comparison.curves()
    curves["date"] = pd.to_datetime(curves["date"]).dt.date
    lines, bands = [], []
    for i, name in enumerate(comparison.names):
        part = curves[curves["scenario"] == name]
        colour = svg.SERIES[i % len(svg.SERIES)]
        x = part["date"].tolist()
        lines.append(svg.Line(_scenario_name(lang, name), x, part["q0.5"].tolist(), colour))
        if name == "baseline":
            bands.append(
                svg.Band("", x, part["q0.05"].tolist(), part["q0.95"].tolist(), colour, 0.15)
            )
    today = brief.last + dt.timedelta(days=1)
    chart = svg.TimeChart(
        text(lang, "axis.date"),
        text(lang, "axis.infections"),
        lines=lines,
        bands=bands,
        markers=[(today, "")],
        height=320,
    )
    intro = text(
        lang,
        "scenarios.intro",
        particles=base.shape[0],
        days=brief.settings.projection_days,
        today=today,
    )
    return _section(lang, "scenarios", intro, table + chart.svg())


def _proof_section(brief: Brief, lang: str) -> str:
    draws = brief.calibration.posterior.draws
    truth = {
        "r0": brief.synth.epidemic.r0,
        "change_factor": brief.synth.epidemic.measure_transmission if brief.measure_date else None,
        "reporting_delay": None,
    }
    estimates = {
        name: draws[name] for name in ("r0", "change_factor", "seed_scale") if name in draws
    }
    if "change_factor" in draws:
        estimates["r_after"] = draws["r0"] * draws["change_factor"]
        truth["r_after"] = truth["r0"] * truth["change_factor"]
    infections = true_infections(brief)
    estimates["infections"] = brief.projection.daily["baseline"][:, : brief.settings.days].sum(
        axis=1
    )
    truth["infections"] = float(infections.sum())
    rows = []
    for name, values in estimates.items():
        low, mid, high = quantiles(values)
        true = truth.get(name)
        covered = "" if true is None else text(lang, "yes" if low <= true <= high else "no")
        fmt = _n if name == "infections" else "{:.2f}".format
        rows.append(
            [
                _e(text(lang, f"param.{name}")),
                "–" if true is None else (_n(true) if name == "infections" else f"{true:.3g}"),
                fmt(mid),
                f"{fmt(low)}–{fmt(high)}",
                _e(covered),
            ]
        )
    table = _table(
        [
            text(lang, "parameter"),
            text(lang, "truth"),
            text(lang, "posterior"),
            text(lang, "interval"),
            text(lang, "covered"),
        ],
        rows,
    )
    curves = brief.projection.curves()
    base = curves[curves["scenario"] == "baseline"].copy()
    base["date"] = pd.to_datetime(base["date"]).dt.date
    base = base[base["date"] <= brief.last + dt.timedelta(days=14)]
    x = base["date"].tolist()
    cases = national_cases(brief)
    chart = svg.TimeChart(
        text(lang, "axis.date"),
        text(lang, "axis.infections"),
        lines=[
            svg.Line(
                text(lang, "true.infections"),
                list(infections.index),
                infections.tolist(),
                "#222",
                dash=True,
            ),
            svg.Line(text(lang, "model.infections"), x, base["q0.5"].tolist(), svg.SERIES[0]),
        ],
        bands=[svg.Band("", x, base["q0.05"].tolist(), base["q0.95"].tolist(), svg.SERIES[0], 0.2)],
        bars=[svg.Bars(text(lang, "observed"), list(cases.index), cases.tolist())],
        markers=[(brief.measure_date, text(lang, "measure"))] if brief.measure_date else [],
        height=320,
    )
    body = (
        table
        + f'<p class="note">{_e(text(lang, "proof.note"))}</p>'
        + f'<p class="note">{_e(text(lang, "proof.curve"))}</p>'
        + chart.svg()
    )
    return _section(lang, "proof", text(lang, "proof.intro"), body)


def _mobility_section(brief: Brief, lang: str) -> str:
    flows = brief.od_flows
    if flows.empty:
        return ""
    last = flows["date"].max()
    day = flows[(flows["date"] == last) & (flows["origin"] != flows["dest"])]
    if "suppressed" in day:
        day = day[~day["suppressed"].astype(bool)]
    top = day.sort_values("trips", ascending=False).head(12)
    body = _table(
        [text(lang, "origin"), text(lang, "destination"), text(lang, "trips")],
        [
            [_e(region_name(lang, r.origin)), _e(region_name(lang, r.dest)), _n(r.trips)]
            for r in top.itertuples()
        ],
        2,
    )
    intro = text(lang, "mobility.intro", subscribers=brief.settings.subscribers)
    return _section(lang, "mobility", intro, body)


def _importations_section(brief: Brief, lang: str) -> str:
    if brief.importations is None or brief.importations.empty:
        return ""
    arrivals = brief.importations  # visitors arriving and residents returning
    if "suppressed" in arrivals:
        arrivals = arrivals[~arrivals["suppressed"].astype(bool)]
    by_country = arrivals.groupby("country")["arrivals"].sum().sort_values(ascending=False).head(10)
    body = _table(
        [text(lang, "country"), text(lang, "arrivals")],
        [[_e(c), _n(v)] for c, v in by_country.items()],
    )
    return _section(lang, "importations", text(lang, "importations.intro"), body)


def _households_section(brief: Brief, lang: str) -> str:
    signals = brief.signals
    if signals is None or signals.empty or "fever_households" not in signals:
        return ""
    released = signals[~signals["suppressed"].astype(bool)] if "suppressed" in signals else signals
    released = released.assign(weighted=released["fever_rate"] * released["households"])
    daily = released.groupby("date")[["weighted", "households"]].sum()  # as the dashboard
    daily.index = pd.to_datetime(daily.index).date
    share = 100 * daily["weighted"] / daily["households"].where(daily["households"] > 0)
    chart = svg.TimeChart(
        text(lang, "axis.date"),
        text(lang, "axis.fever"),
        lines=[svg.Line(text(lang, "korea"), list(share.index), share.tolist(), "#c62828")],
        markers=[(brief.measure_date, text(lang, "measure"))] if brief.measure_date else [],
        height=260,
    )
    return _section(lang, "households", text(lang, "households.intro"), chart.svg())


def _quality_section(brief: Brief, lang: str) -> str:
    rows = [
        [
            _e(text(lang, f"source.{name}")),
            _n(q["rows_in"]),
            _n(q["rows_kept"]),
            _n(q["rows_quarantined"]),
            _n(q["duplicates_removed"]),
        ]
        for name, q in brief.quality.items()
    ]
    body = _table(
        [
            text(lang, "source"),
            text(lang, "rows_in"),
            text(lang, "kept"),
            text(lang, "quarantined"),
            text(lang, "duplicates"),
        ],
        rows,
    )
    return _section(lang, "quality", text(lang, "quality.intro"), body)


def _percent(value: float) -> str:
    return f"{value:.1%}" if np.isfinite(value) else "–"


def _privacy_section(brief: Brief, lang: str) -> str:
    if brief.privacy is None:
        return ""
    errors, intro = brief.privacy
    rows = [
        [
            f"{r.max_trips_per_day}",
            f"{r.epsilon:g}",
            _percent(r.relative_bounded),
            _percent(r.relative_large),
        ]
        for r in errors.itertuples()
    ]
    body = _table(
        [
            text(lang, "bound"),
            text(lang, "epsilon"),
            text(lang, "rel.bounded"),
            text(lang, "rel.large"),
        ],
        rows,
        0,
    )
    if lang != "en":
        bias = errors.groupby("max_trips_per_day")["bounding_bias"].first()
        intro = text(
            lang,
            "privacy.intro",
            bias=", ".join(f"{b}회 {v:.1%}" for b, v in bias.items()),
            large=LARGE_FLOW,
            cells=int(errors["cells"].iloc[0]),
        )
    return _section(lang, "privacy", intro, body)


def _section(lang: str, key: str, intro: str, body: str) -> str:
    intro_html = f'<p class="intro">{_e(intro)}</p>' if intro else ""
    return f'<section id="{key}"><h2>{_e(text(lang, key))}</h2>{intro_html}{body}</section>'


# -- the document -------------------------------------------------------------------------------


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
