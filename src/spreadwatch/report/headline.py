"""The brief's first page: five numbers with their intervals, the risk map, what changed since
last week, and the caveats."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from spreadwatch.forecast.hub import default_model, frame_of
from spreadwatch.report import svg
from spreadwatch.report.briefing import (
    Brief,
    _e,
    _level_labels,
    _n,
    _signed,
    _table,
    national_cases,
    quantiles,
)
from spreadwatch.report.texts import region_name, text


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
