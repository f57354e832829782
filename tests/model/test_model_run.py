"""End to end: config file -> states.parquet with the documented schema, on the shipped examples and
on a run driven by fusion od_flows/presence files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from spreadwatch.model import (
    STATES_SCHEMA,
    build_scenario,
    load_config,
    mixing_from_fusion,
    run_simulation,
    simulate,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wide(table: pa.Table) -> pd.DataFrame:
    """Rows (date, region_code), one column per compartment."""
    return table.to_pandas().pivot_table(
        index=["date", "region_code"], columns="compartment", values="value"
    )


def test_three_countries_example_writes_the_documented_table(tmp_path):
    path = run_simulation(EXAMPLES / "three-countries.toml", tmp_path / "out")
    assert path == tmp_path / "out" / "states.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(STATES_SCHEMA, check_metadata=False)
    assert b"spreadwatch.model.config" in table.schema.metadata

    csv = pd.read_csv(EXAMPLES / "three-countries.csv", dtype={"code": str})
    days, n = 180, len(csv)
    assert table.num_rows == days * n * 5
    frame = table.to_pandas()
    assert frame["date"].min() == dt.date(2024, 3, 1)
    assert frame["date"].max() == dt.date(2024, 3, 1) + dt.timedelta(days=days - 1)
    assert frame["compartment"].iloc[:5].tolist() == ["S", "E", "I", "R", "incidence"]
    assert set(frame["region_code"]) == set(csv["code"])

    states = wide(table)
    residents = states[["S", "E", "I", "R"]].sum(axis=1).unstack("region_code")
    expected = csv.set_index("code")["population"].astype(float)
    np.testing.assert_allclose(residents[expected.index].to_numpy(), np.tile(expected, (days, 1)))
    assert (states["incidence"] >= 0).all()
    recovered = states["R"].unstack("region_code")
    assert (recovered.diff().dropna() >= -1e-9).all().all()
    # XCR is seeded on 2024-04-15 but gets infections from its neighbours before that.
    assert recovered["XCR"].iloc[-1] > 0.5 * expected["XCR"]

    again = simulate(load_config(EXAMPLES / "three-countries.toml"))
    assert again.equals(table.replace_schema_metadata(None))


def test_output_section_selects_compartments_and_folder(tmp_path):
    (tmp_path / "regions.csv").write_text("code,population\nAAA,1000\nBBB,500\n")
    config = tmp_path / "run.toml"
    config.write_text(
        "[run]\nstart_date = 2024-01-01\ndays = 10\n"
        "[disease]\nbeta = 0.5\nlatent_days = 2\ninfectious_days = 4\n"
        '[regions]\ncsv = "regions.csv"\n'
        '[[seed]]\nregion = "BBB"\ninfected = 3\n'
        '[output]\ndir = "results"\ncompartments = ["incidence", "I"]\n'
    )
    path = run_simulation(config)
    assert path == tmp_path / "results" / "states.parquet"
    table = pq.read_table(path)
    assert table.num_rows == 10 * 2 * 2
    assert table.column("compartment").to_pylist()[:2] == ["incidence", "I"]
    a = table.filter(pc.equal(table["region_code"], "AAA"))
    assert all(v == 0 for v in a.column("value").to_pylist())  # no mobility: AAA untouched


def test_od_mobility_from_fusion_files_drives_the_run(tmp_path):
    (tmp_path / "regions.csv").write_text("code,population\nAAA,1000\nBBB,2000\n")
    day = dt.date(2024, 1, 1)
    od = pa.table(
        {
            "date": pa.array([day, day], pa.date32()),
            "origin": ["AAA", "BBB"],
            "dest": ["BBB", "AAA"],
            "trips": pa.array([100, 50], pa.int64()),
            "suppressed": [False, False],
        }
    )
    presence = pa.table(
        {
            "date": pa.array([day, day], pa.date32()),
            "hour": pa.array([2, 2], pa.int32()),
            "region_code": ["AAA", "BBB"],
            "people": pa.array([800, 2500], pa.int64()),
            "suppressed": [False, False],
        }
    )
    pq.write_table(od, tmp_path / "od.parquet")
    pq.write_table(presence, tmp_path / "presence.parquet")
    config_path = tmp_path / "run.yaml"
    config_path.write_text(
        "run: {start_date: 2024-02-01, days: 40}\n"
        "disease: {r0: 3, latent_days: 2, infectious_days: 4}\n"
        "regions: {csv: regions.csv}\n"
        "mobility: {kind: od, od_flows: od.parquet, presence: presence.parquet}\n"
        "seed: [{region: AAA, infected: 5}]\n"
    )
    scenario = build_scenario(load_config(config_path))
    np.testing.assert_allclose(
        scenario.model.mixing, [[1 - 100 / 800, 100 / 800], [50 / 2500, 1 - 50 / 2500]]
    )
    np.testing.assert_array_equal(
        scenario.model.mixing,
        mixing_from_fusion(tmp_path / "od.parquet", tmp_path / "presence.parquet", ["AAA", "BBB"]),
    )
    states = wide(pq.read_table(run_simulation(config_path, tmp_path / "out")))
    assert states.loc[(dt.date(2024, 3, 11), "BBB"), "R"] > 100


def test_korea_example_is_seeded_in_nam_gu_daegu_and_runs():
    from spreadwatch import regions

    sigungu = regions.load("sigungu").regions.set_index("code")
    config = load_config(EXAMPLES / "korea-seir.toml")
    (seed,) = config.seed
    assert seed.region == "22040"
    assert sigungu.loc["22040", ["name_en", "sido_name_en"]].tolist() == ["Nam-gu", "Daegu"]

    table = simulate(config)
    assert table.num_rows == config.run.days * 229 * 5
    states = wide(table)
    last = states.xs(config.run.date(config.run.days - 1), level="date")
    residents = last[["S", "E", "I", "R"]].sum(axis=1)
    population = sigungu["population"].astype(float)
    np.testing.assert_allclose(residents[population.index], population, rtol=1e-9)
    infected = 1 - last["S"] / population[last.index]
    assert infected.min() > 0.01  # gravity mobility carries it to every si-gun-gu
    first_day = states.xs(config.run.start_date, level="date")["incidence"]
    assert first_day.idxmax() == "22040"


@pytest.mark.parametrize(
    "name", ["three-countries.toml", "korea-seir.toml", "korea-age-stochastic.toml"]
)
def test_examples_validate(name):
    assert load_config(EXAMPLES / name).run.days > 0
