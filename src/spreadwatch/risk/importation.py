"""Importation risk: expected infected arrivals per region and day.

``expected_infected[d, r] = sum_c arrivals[d, c, r] * incidence[c, d] / 100,000 * exposure_days``

with ``arrivals`` the fusion ``importations`` table (by KST date, origin country and home
region; ``unknown`` home regions kept as such), ``incidence`` the origin country's new cases per
100,000 people per day on or before that date (a user's table; the synthetic default gives every
country 1 per 100,000 per day, so the risk ranks regions by arrivals), and ``exposure_days`` the
days an arrival is taken to have spent there (default 7).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from spreadwatch.infer.cases import CasesError
from spreadwatch.model.geography import fail_at

DEFAULT_INCIDENCE_PER_100K = 1.0
DEFAULT_EXPOSURE_DAYS = 7.0
RISK_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("region_code", pa.string()),
        ("arrivals", pa.int64()),
        ("expected_infected", pa.float64()),
        ("top_country", pa.string()),
    ]
)


def read_incidence(path: Path) -> pd.DataFrame:
    """A CSV or Parquet of ``country, date, incidence_per_100k`` (ISO alpha-3 codes); errors
    name the file, row and column."""
    from iso3166 import countries_by_alpha3

    try:
        frame = (
            pd.read_parquet(path)
            if Path(path).suffix == ".parquet"
            else pd.read_csv(path, dtype=str, keep_default_na=False)
        )
    except (OSError, ValueError) as exc:
        raise CasesError(f"{path}: cannot read: {exc}") from None
    for column in ("country", "date", "incidence_per_100k"):
        if column not in frame:
            raise CasesError(f"{path}: missing column {column!r}")
    frame = frame.astype(str)
    checks = [
        (
            "country",
            ~frame["country"].str.strip().isin(countries_by_alpha3),
            "an ISO 3166 alpha-3 code like JPN",
        ),
        (
            "date",
            pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce").isna(),
            "a date like 2020-02-01",
        ),
        (
            "incidence_per_100k",
            ~(pd.to_numeric(frame["incidence_per_100k"], errors="coerce") >= 0),
            "a number >= 0",
        ),
    ]
    for column, bad, expected in checks:
        fail_at(path, bad, column, frame[column], f"expected {expected}", CasesError)
    return pd.DataFrame(
        {
            "country": frame["country"].str.strip(),
            "date": pd.to_datetime(frame["date"]),
            "incidence_per_100k": pd.to_numeric(frame["incidence_per_100k"]),
        }
    )


def importation_risk(
    importations: pd.DataFrame,
    incidence: pd.DataFrame | None = None,
    exposure_days: float = DEFAULT_EXPOSURE_DAYS,
) -> pa.Table:
    """``RISK_SCHEMA`` per date and home region (see the module docstring). A country missing
    from ``incidence``, or a date before its first row, counts 0; a date between rows takes the
    latest before."""
    arrivals = importations.copy()
    arrivals["date"] = pd.to_datetime(arrivals["date"]).astype("datetime64[ns]")
    arrivals = (
        arrivals[~arrivals.get("suppressed", False)] if "suppressed" in arrivals else arrivals
    )
    if incidence is None:
        arrivals["incidence_per_100k"] = DEFAULT_INCIDENCE_PER_100K
    else:
        table = incidence.assign(date=incidence["date"].astype("datetime64[ns]")).sort_values(
            "date"
        )
        arrivals = pd.merge_asof(
            arrivals.sort_values("date"), table, on="date", by="country", direction="backward"
        )
        arrivals["incidence_per_100k"] = arrivals["incidence_per_100k"].fillna(0.0)
    arrivals["expected"] = (
        arrivals["arrivals"] * arrivals["incidence_per_100k"] / 1e5 * exposure_days
    )
    grouped = arrivals.groupby(["date", "region_code"])
    top = arrivals.sort_values("expected").groupby(["date", "region_code"]).tail(1)
    frame = grouped.agg(arrivals=("arrivals", "sum"), expected_infected=("expected", "sum"))
    frame = frame.join(top.set_index(["date", "region_code"])["country"].rename("top_country"))
    frame = frame.reset_index()
    frame["date"] = frame["date"].dt.date
    return pa.Table.from_pandas(
        frame[list(RISK_SCHEMA.names)].sort_values(["date", "region_code"]),
        schema=RISK_SCHEMA,
        preserve_index=False,
    )
