"""The brief's fine-dust section: the latest day's PM2.5 map by Korean grade, what people
breathed against the census-at-home figure (and the synthetic truth), the daily shares above
the thresholds, the next day's forecast and a check of the field against the truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from spreadwatch.air.grades import grade
from spreadwatch.kst import KST_OFFSET_HOURS
from spreadwatch.report import svg
from spreadwatch.report.briefing import Brief, _e, _percent, _section, _table
from spreadwatch.report.texts import region_name, text

#: The grades' colours as Korea's air-quality services show them: blue, green, orange, red.
GRADE_COLOURS = ("#1e88e5", "#43a047", "#fb8c00", "#e53935")
_DAYS_SHOWN = 7


def air_section(brief: Brief, lang: str) -> str:
    """The section, or nothing when the demo made no fine-dust outputs."""
    folder = brief.air
    if folder is None or not (folder / "field.parquet").exists():
        return ""
    summary = json.loads((folder / "air.json").read_text())
    field = pq.read_table(folder / "field.parquet").to_pandas()
    daily = pq.read_table(folder / "daily.parquet").to_pandas()
    intro = text(
        lang, "air.intro", stations=summary["stations"], readings=summary["purifier_readings"]
    )
    parts = [
        _grade_map(field, lang),
        _breathed_chart(daily, brief, lang),
        _shares_table(daily, lang),
        _forecast_note(folder, lang),
        _truth_check(folder, brief, lang),
    ]
    return _section(lang, "air", intro, "".join(parts))


def _local_dates(ts: pd.Series) -> pd.Series:
    return (pd.to_datetime(ts, utc=True) + pd.Timedelta(hours=KST_OFFSET_HOURS)).dt.date


def _grade_map(field: pd.DataFrame, lang: str) -> str:
    dates = _local_dates(field["ts"])
    whole = dates.value_counts()
    last = max(d for d, n in whole.items() if n == 24 * field["region_code"].nunique())
    means = field[dates == last].groupby("region_code")["pm25"].mean()
    grades = pd.Series(grade(means.to_numpy()), index=means.index)
    names = [text(lang, f"air.grade.{g}") for g in range(4)]
    colours = {code: GRADE_COLOURS[g] for code, g in grades.items()}
    tips = {
        code: f"{region_name(lang, code)}: {means[code]:.0f} ㎍/㎥ ({names[g]})"
        for code, g in grades.items()
    }
    legend = [(GRADE_COLOURS[g], f"{names[g]} ({int((grades == g).sum())})") for g in range(4)]
    insets = {key: text(lang, f"inset.{key}") for key in svg.INSETS}
    return svg.choropleth(colours, tips, legend, text(lang, "air.map", date=last), insets)


def _breathed_chart(daily: pd.DataFrame, brief: Brief, lang: str) -> str:
    days = list(pd.to_datetime(daily["date"]).dt.date)
    lines = [
        svg.Line(text(lang, "air.breathed"), days, daily["pm25_weighted"].tolist(), svg.SERIES[0]),
        svg.Line(
            text(lang, "air.static"),
            days,
            daily["pm25_weighted_static"].tolist(),
            "#9e9e9e",
            width=1.5,
        ),
    ]
    truth = brief.truth.parent / "air_daily.parquet"
    if truth.exists():
        true = pq.read_table(truth).to_pandas()
        lines.append(
            svg.Line(
                text(lang, "air.truth"),
                list(pd.to_datetime(true["date"]).dt.date),
                true["pm25_weighted"].tolist(),
                svg.SERIES[1],
                dash=True,
                width=1.5,
            )
        )
    chart = svg.TimeChart(text(lang, "axis.date"), text(lang, "air.axis"), lines=lines, height=260)
    return chart.svg()


def _shares_table(daily: pd.DataFrame, lang: str) -> str:
    recent = daily.sort_values("date").tail(_DAYS_SHOWN)
    rows = [
        [
            _e(pd.Timestamp(r.date).date()),
            f"{r.pm25_weighted:.1f}",
            _percent(r.share_above_korea),
            _percent(r.share_above_who),
            f"{_percent(r.share_above_korea_static)} / {_percent(r.share_above_who_static)}",
        ]
        for r in recent.itertuples()
    ]
    headers = [
        text(lang, "axis.date"),
        text(lang, "air.weighted"),
        text(lang, "air.share.korea"),
        text(lang, "air.share.who"),
        text(lang, "air.share.static"),
    ]
    return _table(headers, rows)


def _forecast_note(folder, lang: str) -> str:
    path = folder / "forecast.parquet"
    if not path.exists():
        return ""
    forecast = pq.read_table(path, columns=["origin", "region_code", "horizon", "median"])
    frame = forecast.to_pandas()
    peaks = frame.loc[frame.groupby("region_code")["median"].idxmax()]
    top = peaks.sort_values("median").iloc[-1]
    origin = pd.Timestamp(frame["origin"].iloc[0]).strftime("%Y-%m-%d %H:00")
    bad = int((grade(peaks["median"].to_numpy()) >= 2).sum())
    key = "air.forecast" if bad else "air.forecast.calm"
    note = text(
        lang,
        key,
        origin=origin,
        bad=bad,
        peak=float(top["median"]),
        region=region_name(lang, str(top["region_code"])),
        hours=int(top["horizon"]),
    )
    return f'<p class="note">{_e(note)}</p>'


def _truth_check(folder, brief: Brief, lang: str) -> str:
    truth_path = brief.truth.parent / "air.parquet"
    if not truth_path.exists():
        return ""
    keys = ["ts", "region_code"]
    truth = pq.read_table(truth_path, columns=[*keys, "pm25", "exposure"]).to_pandas()
    field = pq.read_table(folder / "field.parquet", columns=[*keys, "pm25", "pm25_idw"])
    exposure = pq.read_table(
        folder / "exposure.parquet", columns=[*keys, "exposure", "exposure_static"]
    )
    both = truth.merge(field.to_pandas(), on=keys, suffixes=("_true", "")).merge(
        exposure.to_pandas(), on=keys, suffixes=("_true", "")
    )
    if both.empty:
        return ""

    def rmse(column: str) -> float:
        return float(np.sqrt(np.mean((both[column] - both["pm25_true"]) ** 2)))

    total = both["exposure_true"].sum()
    check = text(
        lang,
        "air.check",
        rmse=rmse("pm25"),
        idw=rmse("pm25_idw"),
        dynamic=float((both["exposure"] - both["exposure_true"]).abs().sum() / total),
        static=float((both["exposure_static"] - both["exposure_true"]).abs().sum() / total),
    )
    return f'<p class="note">{_e(check)}</p>'
