"""What the brief shows (:class:`Brief`, the demo's outputs) and the small pieces its pages
are made of: numbers, tables, section frames."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from spreadwatch.report import svg
from spreadwatch.report.texts import text


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
    air: Path | None = None
    """The folder of ``spreadwatch air assess`` (the fine-dust section), if run."""

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


def _level_labels(lang: str) -> dict[int, str]:
    return {level: text(lang, f"level.{level}") for level in range(1, 5)}


def _level_badge(level: int, labels: dict[int, str]) -> str:
    colour = svg.LEVEL_COLOURS[level]
    return f'<span style="color:{colour};font-weight:700">{_e(labels[level])}</span>'


def _scenario_name(lang: str, name: str) -> str:
    return text(lang, "baseline") if name == "baseline" else text(lang, f"scenario.{name}")


def _percent(value: float) -> str:
    return f"{value:.1%}" if np.isfinite(value) else "–"


def _section(lang: str, key: str, intro: str, body: str) -> str:
    intro_html = f'<p class="intro">{_e(intro)}</p>' if intro else ""
    return f'<section id="{key}"><h2>{_e(text(lang, key))}</h2>{intro_html}{body}</section>'
