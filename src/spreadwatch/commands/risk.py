"""``spreadwatch notices`` and ``spreadwatch importation-risk``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spreadwatch.commands import fail, write_table
from spreadwatch.progress import say, step

if TYPE_CHECKING:
    import pandas as pd


def notices(
    store: Annotated[Path, typer.Argument(help="Ingest store holding roaming events.")],
    countries: Annotated[str, typer.Option(help="Listed countries, ISO alpha-3: CHN,IRN.")],
    as_of: Annotated[str, typer.Option(help="KST date of the notices, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    days: Annotated[int, typer.Option(min=1, max=60, help="Look-back window, days (14, 21).")] = 14,
) -> None:
    """Traveler notices: the pseudonymous subscribers who were in a listed country within the
    last DAYS days (ours coming home and visitors), for the alerts channel."""
    import pyarrow.parquet as pq
    from iso3166 import countries_by_alpha3

    from spreadwatch.risk import traveler_notices

    listed = [c.strip().upper() for c in countries.split(",") if c.strip()]
    unknown = [c for c in listed if c not in countries_by_alpha3]
    if unknown or not listed:
        raise fail(
            f"--countries: {unknown[0]!r} is not an ISO 3166 alpha-3 code"
            if unknown
            else "--countries: none given"
        )
    try:
        date = dt.date.fromisoformat(as_of)
    except ValueError:
        raise fail(f"--as-of: expected a date like 2020-02-14, got {as_of!r}") from None
    parts = sorted((store / "roaming").glob("*.parquet"))
    if not parts:
        raise fail(f"{store}: no roaming events in this store (spreadwatch ingest roaming ...)")
    table = traveler_notices(pq.read_table(parts).to_pandas(), listed, date, days)
    write_table(table, out)
    say(f"wrote [bold]{out}[/] ({table.num_rows:,} notices as of {date})")


def importation_risk(
    importations: Annotated[Path, typer.Argument(help="Fusion importations table (Parquet).")],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    incidence: Annotated[
        Path | None,
        typer.Option(
            help="CSV or Parquet: country, date, incidence_per_100k (default: 1 for every country)."
        ),
    ] = None,
    exposure_days: Annotated[
        float, typer.Option(min=0.1, help="Days an arrival spent in the origin country.")
    ] = 7.0,
) -> None:
    """Expected infected arrivals per region and day: arrivals by origin country times that
    country's incidence."""
    import pyarrow.parquet as pq

    from spreadwatch.infer import CasesError
    from spreadwatch.risk import importation_risk as risk
    from spreadwatch.risk import read_incidence

    try:
        table = pq.read_table(importations).to_pandas()
        missing = [c for c in ("date", "country", "region_code", "arrivals") if c not in table]
        if missing:
            raise CasesError(
                f"{importations}: missing column {missing[0]!r} (an importations table)"
            )
        rates = read_incidence(incidence) if incidence is not None else None
        result = risk(table, rates, exposure_days)
    except (CasesError, OSError) as exc:
        raise fail(str(exc)) from exc
    write_table(result, out)
    say(f"wrote [bold]{out}[/] ({result.num_rows:,} region-days)")


FORECAST_COLUMNS = (
    "model",
    "origin_date",
    "target_end_date",
    "location",
    "output_type",
    "output_type_id",
    "value",
)


SIGNAL_COLUMNS = ("date", "region_code", "fever_rate", "stay_home_index")


def _read_table(path: Path | None, columns: tuple[str, ...], what: str) -> pd.DataFrame | None:
    """A CSV or Parquet table with at least ``columns`` (``None`` when no path is given)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from spreadwatch.forecast.hub import frame_of
    from spreadwatch.infer import CasesError

    if path is None:
        return None
    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else frame_of(pq.read_table(path))
    except (OSError, ValueError) as exc:
        raise CasesError(f"{path}: cannot read {what}: {exc}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CasesError(f"{path}: missing column {missing[0]!r} ({what})")
    return frame


def early_warning(
    household_signals: Annotated[Path, typer.Argument(help="Fusion household_signals table.")],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    cases: Annotated[
        Path | None, typer.Option(help="Reported cases, to score the same way and compare.")
    ] = None,
    threshold: Annotated[
        float, typer.Option(min=1.0, max=8.0, help="Score that alarms on two days in a row.")
    ] = 3.0,
) -> None:
    """Early warning from homes: per region and day, the household score (households with a
    lasting fever against the region's own baseline, weekday-aware) and an alarm on the second
    of two days in a row at or above THRESHOLD; with --cases, the same on reported cases."""
    import pandas as pd
    import pyarrow as pa

    from spreadwatch.infer import CasesError, read_cases
    from spreadwatch.risk.assemble import cases_frame
    from spreadwatch.risk.early_warning import Detector, case_scores, household_scores, scores_long

    detector = Detector(threshold=threshold)
    try:
        signals = _read_table(household_signals, SIGNAL_COLUMNS, "a household_signals table")
        signals["region_code"] = signals["region_code"].astype(str)
        scored = {"household": household_scores(signals, detector)}
        if cases is not None:
            series = read_cases(cases)
            series.require_daily(cases, "early warning")
            scored["case"] = case_scores(cases_frame(series), detector)
    except (CasesError, OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    frame = None
    for name, score in scored.items():
        part = scores_long(score, f"{name}_score").merge(
            scores_long(detector.alarms(score).astype(float), f"{name}_alarm"),
            on=["date", "region_code"],
        )
        part[f"{name}_alarm"] = part[f"{name}_alarm"].astype(bool)
        frame = (
            part if frame is None else frame.merge(part, on=["date", "region_code"], how="outer")
        )
    frame = frame.sort_values(["date", "region_code"]).reset_index(drop=True)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    write_table(pa.Table.from_pandas(frame, preserve_index=False), out)
    first = frame[frame["household_alarm"].fillna(False).astype(bool)]
    first = first.groupby("region_code")["date"].min().sort_values()
    say(f"wrote [bold]{out}[/]: household alarms in {len(first)} regions")
    for code, day in first.head(10).items():
        say(f"  {code}: first alarm {day}")


def risk(
    cases: Annotated[Path, typer.Option(help="Reported cases: region_code, date, confirmed.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    population: Annotated[
        Path | None, typer.Option(help="CSV code,population (default: the 2020 census).")
    ] = None,
    forecasts: Annotated[
        Path | None, typer.Option(help="Hubverse forecasts of `spreadwatch forecast` (daily).")
    ] = None,
    importation: Annotated[
        Path | None, typer.Option("--importation-risk", help="Table of `importation-risk`.")
    ] = None,
    household_signals: Annotated[
        Path | None, typer.Option(help="Fusion household_signals table.")
    ] = None,
    si_mean: Annotated[float, typer.Option(help="Serial interval mean for Rt, days.")] = 4.8,
    si_sd: Annotated[float, typer.Option(help="Serial interval sd for Rt, days.")] = 2.3,
) -> None:
    """Risk levels 1-4 per region and day from incidence per 100k, Rt, forecast growth,
    importation risk and household fever signals, each level explained by its factors;
    writes risk_levels.parquet and risk.html."""

    from spreadwatch.forecast.history import population_of
    from spreadwatch.infer import CasesError, read_cases
    from spreadwatch.report.risk import write_risk_report
    from spreadwatch.risk.assemble import assemble
    from spreadwatch.risk.levels import LEVELS, risk_levels

    try:
        series = read_cases(cases)
        series.require_daily(cases, "risk levels")
        people, _ = population_of(population, series.regions)
        if people is None:
            raise CasesError(
                f"{population}: incidence per 100,000 needs residents, not population fractions"
                if population is not None
                else f"{cases}: the regions are not si-gun-gu codes: give --population"
            )
        with step("Computing incidence, Rt and the other risk factors"):
            factors = assemble(
                series,
                dict(zip(series.regions, people, strict=True)),
                si_mean,
                si_sd,
                _read_table(forecasts, FORECAST_COLUMNS, "a forecast table"),
                _read_table(
                    importation, ("date", "region_code", "expected_infected"), "importation risk"
                ),
                _read_table(household_signals, SIGNAL_COLUMNS, "a household_signals table"),
            )
        levels = risk_levels(factors)
    except (CasesError, OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    write_table(levels, out / "risk_levels.parquet")
    report = write_risk_report(levels.to_pandas(), out / "risk.html")
    latest = levels.to_pandas()
    latest = latest[latest["date"] == latest["date"].max()]
    counts = latest["level"].value_counts()
    shown = " · ".join(
        f"{level} {LEVELS[level]}: {int(counts.get(level, 0))}" for level in sorted(LEVELS)
    )
    say(f"regions by level on {latest['date'].max()}: {shown}")
    say(f"report: [bold]{report.resolve()}[/]")


#: The commands of this module, by name (registered in :mod:`spreadwatch.cli`).
COMMANDS = {
    "risk": risk,
    "early-warning": early_warning,
    "notices": notices,
    "importation-risk": importation_risk,
}
