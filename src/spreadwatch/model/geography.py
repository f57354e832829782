"""The set of regions a run simulates: codes, names, resident populations, optional coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spreadwatch.model.errors import ConfigError
from spreadwatch.regions.sources import AGE_BANDS

KOREA_SIGUNGU = "korea-sigungu"
AGE_COLUMNS: tuple[str, ...] = tuple(f"age_{band}" for band in AGE_BANDS)
CSV_REQUIRED = ("code", "population")
CSV_OPTIONAL = ("name", "lat", "lon", *AGE_COLUMNS)


@dataclass(frozen=True, eq=False)
class RegionSet:
    """Regions in model order; ``lat``/``lon`` (degrees) are ``None`` when unknown."""

    label: str
    codes: tuple[str, ...]
    names: tuple[str, ...]
    population: np.ndarray
    lat: np.ndarray | None = None
    lon: np.ndarray | None = None
    ages: np.ndarray | None = None
    """Residents by age band, ``(16, regions)``, when known."""

    @property
    def size(self) -> int:
        return len(self.codes)

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None

    def index(self) -> pd.Index:
        """Codes as a pandas Index (position = model index)."""
        return pd.Index(self.codes, dtype=object)

    def name_of(self, code: str) -> str:
        return self.names[self.codes.index(code)]


def load_regions(csv: Path | None = None) -> RegionSet:
    """Regions from a CSV file, or Korea's 229 si-gun-gu when ``csv`` is ``None``."""
    return korea_sigungu() if csv is None else read_regions_csv(csv)


def korea_sigungu() -> RegionSet:
    """Korea's 229 si-gun-gu (2020 census population, polygon centroids), named "Nam-gu, Daegu"."""
    from spreadwatch import regions

    frame = regions.load("sigungu").regions
    return RegionSet(
        label=KOREA_SIGUNGU,
        codes=tuple(frame["code"].astype(str)),
        names=tuple(frame["name_en"].astype(str) + ", " + frame["sido_name_en"].astype(str)),
        population=frame["population"].to_numpy(dtype=np.float64),
        lat=frame["centroid_lat"].to_numpy(dtype=np.float64),
        lon=frame["centroid_lon"].to_numpy(dtype=np.float64),
        ages=frame[list(AGE_COLUMNS)].to_numpy(dtype=np.float64).T,
    )


def read_regions_csv(path: Path) -> RegionSet:
    """Regions from a CSV with columns ``code,population`` and optional ``name``, ``lat``, ``lon``
    and the 16 age-band columns ``age_0-4, ..., age_75+`` (all or none; they must add up to
    ``population``).

    Raises :class:`ConfigError` naming the file, the row (1 = first data row) and the column.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False
        )
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path}: cannot read as CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(path, list(frame.columns))
    if frame.empty:
        raise ConfigError(f"{path}: no regions (the file has a header only)")
    codes = frame["code"].str.strip()
    fail_at(path, codes == "", "code", codes, "expected a non-empty code")
    duplicated = codes.duplicated(keep="first")
    if duplicated.any():
        row = int(np.argmax(duplicated.to_numpy()))
        first = int(np.argmax((codes == codes.iloc[row]).to_numpy()))
        raise ConfigError(
            f"{path}: row {row + 1}, column code: duplicate code {codes.iloc[row]!r} "
            f"(first in row {first + 1})"
        )
    population = pd.to_numeric(frame["population"].str.strip(), errors="coerce")
    good = population.notna() & (population > 0) & (population == np.floor(population))
    fail_at(path, ~good, "population", frame["population"], "expected a positive integer")
    has_coords = "lat" in frame and "lon" in frame
    lat = _coordinate(path, frame, "lat", 90.0) if has_coords else None
    lon = _coordinate(path, frame, "lon", 180.0) if has_coords else None
    names = frame["name"].str.strip() if "name" in frame else codes
    ages = _age_bands(path, frame, population) if AGE_COLUMNS[0] in frame else None
    return RegionSet(
        label=str(path),
        codes=tuple(codes),
        names=tuple(names.where(names != "", codes)),
        population=population.to_numpy(dtype=np.float64),
        lat=lat,
        lon=lon,
        ages=ages,
    )


def _age_bands(path: Path, frame: pd.DataFrame, population: pd.Series) -> np.ndarray:
    bands = []
    for column in AGE_COLUMNS:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        good = values.notna() & (values >= 0) & (values == np.floor(values))
        fail_at(path, ~good, column, frame[column], "expected an integer >= 0")
        bands.append(values.to_numpy(dtype=np.float64))
    ages = np.array(bands)
    off = ages.sum(axis=0) != population.to_numpy(dtype=np.float64)
    fail_at(
        path, pd.Series(off), "population", frame["population"], "expected the sum of the age bands"
    )
    return ages


def _check_columns(path: Path, columns: list[str]) -> None:
    allowed = CSV_REQUIRED + CSV_OPTIONAL
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ConfigError(f"{path}: unknown column {unknown[0]!r} (expected {', '.join(allowed)})")
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        raise ConfigError(f"{path}: missing column {missing[0]!r}")
    if ("lat" in columns) != ("lon" in columns):
        raise ConfigError(f"{path}: give both lat and lon columns, or neither")
    given = [c for c in AGE_COLUMNS if c in columns]
    if given and len(given) != len(AGE_COLUMNS):
        missing_band = next(c for c in AGE_COLUMNS if c not in columns)
        raise ConfigError(f"{path}: give all 16 age columns or none (missing {missing_band!r})")


def _coordinate(path: Path, frame: pd.DataFrame, column: str, limit: float) -> np.ndarray:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = values.isna() | (values.abs() > limit)
    fail_at(path, bad, column, frame[column], f"expected degrees from -{limit:g} to {limit:g}")
    return values.to_numpy(dtype=np.float64)


def fail_at(
    path: Path,
    bad: pd.Series,
    column: str,
    raw: pd.Series,
    expected: str,
    error: type[ValueError] = ConfigError,
) -> None:
    """Raise ``error`` naming the first row (1 = first data row) where ``bad`` holds, its
    column, what was expected and the raw value found."""
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise error(f"{path}: row {row + 1}, column {column}: {expected}, got {raw.iloc[row]!r}")
