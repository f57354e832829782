"""The brief's sections after its first page: forecasts, Rt, risk levels with their reasons,
scenarios, the checks against the synthetic truth, mobility, importations, homes, data quality
and privacy."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from spreadwatch.forecast.hub import default_model, frame_of
from spreadwatch.report import svg
from spreadwatch.report.briefing import (
    Brief,
    _e,
    _level_badge,
    _level_labels,
    _n,
    _percent,
    _scenario_name,
    _section,
    _table,
    national_cases,
    quantiles,
    true_infections,
)
from spreadwatch.report.privacy import LARGE_FLOW
from spreadwatch.report.texts import region_name, text


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
