"""Run configs with the stochastic engine, age structure, hospital compartments, interventions
and importations: what they write, and the errors that name what is wrong."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from spreadwatch.model import SUMMARY_SCHEMA, ConfigError, load_config, run_simulation, simulate

REGIONS = "code,name,population,lat,lon\nAAA,Alpha,400000,37.5,127.0\nBBB,Beta,250000,35.1,129.0\n"


def _config(folder: Path, body: str, regions: str = REGIONS) -> Path:
    (folder / "regions.csv").write_text(regions)
    path = folder / "run.toml"
    head = """\
    [regions]
    csv = "regions.csv"

    [mobility]
    kind = "gravity"
    away_fraction = 0.05

    [[seed]]
    region = "AAA"
    infected = 30
    """
    path.write_text(textwrap.dedent(head) + textwrap.dedent(body))
    return path


STOCHASTIC = """
[run]
start_date = 2024-01-01
days = 90
engine = "stochastic"
particles = 40
random_seed = 3

[disease]
r0 = 2.0
latent_days = 3
infectious_days = 4
"""


def test_stochastic_run_writes_mean_and_quantiles_and_streams_particles(tmp_path):
    path = _config(
        tmp_path, STOCHASTIC + "\n[output]\nparticles = true\nquantiles = [0.1, 0.5, 0.9]\n"
    )
    out = run_simulation(path, tmp_path / "out")
    table = pq.read_table(out)
    assert table.schema.remove_metadata() == SUMMARY_SCHEMA
    assert table.num_rows == 90 * 2 * 5 * 4  # days, regions, S E I R incidence, mean + 3 levels
    frame = table.to_pandas()
    wide = frame.pivot_table(
        index=["date", "region_code", "compartment"],
        columns=frame["output_type_id"].fillna(-1),
        values="value",
    )
    assert (wide[0.1] <= wide[0.5]).all() and (wide[0.5] <= wide[0.9]).all()
    particles = pq.read_table(tmp_path / "out" / "particles.parquet").to_pandas()
    assert particles["particle"].nunique() == 40
    assert len(particles) == 40 * 90 * 2 * 5
    mean = particles.groupby(["date", "region_code", "compartment"])["value"].mean()
    np.testing.assert_allclose(mean.sort_index(), wide[-1].sort_index())
    median = particles.groupby(["date", "region_code", "compartment"])["value"].median()
    np.testing.assert_allclose(median.sort_index(), wide[0.5].sort_index())
    again = pq.read_table(run_simulation(path, tmp_path / "again"))
    assert again.equals(table)  # reproducible by seed


def test_age_structure_with_hospital_and_deaths(tmp_path):
    body = """
    [run]
    start_date = 2024-01-01
    days = 300

    [disease]
    r0 = 2.0
    latent_days = 3
    infectious_days = 4
    compartments = ["S", "E", "I", "H", "R", "D"]
    hospital_fraction = [0.01, 0.01, 0.01, 0.01, 0.02, 0.02, 0.02, 0.03, 0.04, 0.05, 0.07, 0.09,
                         0.12, 0.16, 0.2, 0.25]
    hospital_days = 8
    fatality_fraction = 0.1

    [age]
    contacts = "prem2021"
    country = "South_Korea"
    """
    table = simulate(_config(tmp_path, body))
    frame = table.to_pandas().pivot_table(
        index=["date", "region_code"], columns="compartment", values="value"
    )
    last = frame.xs(dt.date(2024, 1, 1) + dt.timedelta(days=299), level="date")
    residents = last[["S", "E", "I", "H", "R", "D"]].sum(axis=1)
    np.testing.assert_allclose(residents.to_numpy(), [400000, 250000], rtol=1e-9)
    infected = 650000 - last["S"].sum()
    assert infected > 0.3 * 650000
    # everyone who died went through H: D = 10% of all who left H
    assert last["D"].sum() == pytest.approx(0.1 * (last["D"].sum() + _hospital_recoveries(frame)))


def _hospital_recoveries(frame) -> float:
    """Hospital leavers who recovered: 90% of everyone who left H (from the H balance)."""
    h = frame["H"].groupby(level="date").sum()
    d = frame["D"].groupby(level="date").sum()
    left_h = d.iloc[-1] / 0.1
    assert h.iloc[-1] < 1e-3 * left_h  # the epidemic is over
    return 0.9 * left_h


def test_interventions_change_the_epidemic(tmp_path):
    base = """
    [run]
    start_date = 2024-01-01
    days = 200

    [disease]
    r0 = 2.0
    latent_days = 3
    infectious_days = 4
    """
    free = simulate(_config(tmp_path, base))
    lockdown = (
        base
        + """
    [[intervention]]
    kind = "mobility"
    start = 2024-01-01
    reduction = 1.0

    [[intervention]]
    kind = "isolation"
    start = 2024-02-01
    end = 2024-03-31
    days = 1.0
    """
    )
    cut = simulate(_config(tmp_path, lockdown))

    def totals(table: pa.Table) -> dict[str, float]:
        incidence = table.filter(pc.equal(table["compartment"], "incidence"))
        frame = incidence.to_pandas().groupby("region_code")["value"].sum()
        return frame.to_dict()

    assert totals(free)["BBB"] > 1000
    assert totals(cut)["BBB"] == 0.0  # nobody travels: Beta is never reached
    assert totals(cut)["AAA"] < totals(free)["AAA"]


def test_importations_from_the_fusion_table(tmp_path):
    arrivals = pa.table(
        {
            "date": pa.array([dt.date(2024, 1, d) for d in (1, 2, 3)], pa.date32()),
            "country": ["JPN", "JPN", "USA"],
            "region_code": ["BBB", "BBB", "BBB"],
            "arrivals": pa.array([1000, 1000, 1000], pa.int64()),
        }
    )
    pq.write_table(arrivals, tmp_path / "importations.parquet")
    body = """
    [run]
    start_date = 2024-01-01
    days = 20

    [disease]
    r0 = 0.5
    latent_days = 3
    infectious_days = 4

    [importations]
    file = "importations.parquet"
    infected_fraction = 0.01
    """
    day_one = simulate(_config(tmp_path, body)).to_pandas()
    beta = day_one[(day_one["region_code"] == "BBB") & (day_one["date"] == dt.date(2024, 1, 1))]
    value = beta.set_index("compartment")["value"]
    # 1% of 1000 arrivals entered E: all of E, I, R but the day's local infections
    assert value[["E", "I", "R"]].sum() - value["incidence"] == pytest.approx(10.0, rel=1e-9)
    quarantined = (
        body
        + """
    [[intervention]]
    kind = "travel_quarantine"
    start = 2024-01-02
    reduction = 1.0
    """
    )
    table = simulate(_config(tmp_path, quarantined))
    s = table.filter(
        pc.and_(pc.equal(table["compartment"], "S"), pc.equal(table["region_code"], "BBB"))
    )
    lost = 250000 - s["value"].to_numpy()
    assert lost[0] > 9 and lost[-1] - lost[0] < 10  # only day 1's arrivals came in


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("particles = 5", "run.particles: only used when engine = 'stochastic'"),
        ('compartments = ["S", "I", "R"]', "disease.compartments: expected one of these sets"),
        ('compartments = ["S", "E", "I", "X", "R"]', "disease.compartments[3]: expected one of"),
        ('compartments = ["S", "E", "I", "H", "R"]', "disease.hospital_fraction: required when"),
        ("hospital_fraction = 0.1", "disease.hospital_fraction: only used when compartments"),
        ('country = "Atlantis"', "age.country: unknown location 'Atlantis'"),
        ('settings = ["school"]', "intervention[0].settings[0]: unknown setting 'school'"),
        ('regions = ["ZZZ"]', "intervention[0].regions[0]: unknown region 'ZZZ'"),
        ('kind = "travel_quarantine"', "intervention[0].kind: travel_quarantine needs an"),
        (
            "days = 2",
            "intervention[0].days: unknown key for kind = 'mobility' (used with kind = 'isol",
        ),
        ('compartments = ["H"]', "output.compartments[0]: 'H' is not a compartment"),
    ],
)
def test_mistakes_name_the_field(tmp_path, body, message):
    sections = {
        "run": ["start_date = 2024-01-01", "days = 30"],
        "disease": ["r0 = 2.0", "latent_days = 3", "infectious_days = 4"],
        "intervention": ['kind = "mobility"', "start = 2024-01-05", "reduction = 0.5"],
        "output": [],
    }
    key = body.split(" = ")[0]
    where = {
        "particles": "run",
        "compartments": "output" if body == 'compartments = ["H"]' else "disease",
        "hospital_fraction": "disease",
        "country": "age",
        "settings": "intervention",
        "regions": "intervention",
        "kind": "intervention",
        "days": "intervention",
    }[key]
    sections.setdefault(where, [])
    lines = [line for line in sections[where] if not line.startswith(key + " ")]
    sections[where] = [*lines, body]
    if key == "settings":
        sections["intervention"] = [
            'kind = "contacts"',
            "start = 2024-01-05",
            "reduction = 0.5",
            body,
        ]
    text = ""
    for name, keys in sections.items():
        header = f"[[{name}]]" if name == "intervention" else f"[{name}]"
        text += header + "\n" + "\n".join(keys) + "\n\n"
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    assert message in str(info.value)


def test_daily_mobility_uses_each_dates_measured_table(tmp_path):
    """Weekdays all stay home, Sundays half of Alpha spends the day in Beta: Beta's residents
    are infected on Sundays only until they carry it home."""
    rows = []
    for day in range(1, 8):  # 2024-01-01 is a Monday
        away = 200000 if day == 7 else 0
        rows += [
            (dt.date(2024, 1, day), "AAA", "AAA", 400000 - away),
            (dt.date(2024, 1, day), "AAA", "BBB", away),
            (dt.date(2024, 1, day), "BBB", "BBB", 250000),
        ]
    table = pa.table(
        {
            "date": pa.array([r[0] for r in rows], pa.date32()),
            "home_region": [r[1] for r in rows],
            "day_region": [r[2] for r in rows],
            "people": pa.array([r[3] for r in rows], pa.int64()),
            "suppressed": [False] * len(rows),
        }
    )
    table = table.filter(pc.greater(table["people"], 0))
    pq.write_table(table, tmp_path / "commuting.parquet")
    body = """
    [run]
    start_date = 2024-01-08
    days = 14

    [disease]
    r0 = 2.0
    latent_days = 3
    infectious_days = 4
    """
    regions_head = '[regions]\ncsv = "regions.csv"\n\n[[seed]]\nregion = "AAA"\ninfected = 30\n'
    path = tmp_path / "run.toml"
    (tmp_path / "regions.csv").write_text(REGIONS)

    def beta_incidence(daily: bool) -> np.ndarray:
        mobility = '[mobility]\nkind = "commuting"\ncommuting = "commuting.parquet"\n'
        mobility += f"daily = {'true' if daily else 'false'}\n"
        path.write_text(textwrap.dedent(body) + regions_head + mobility)
        frame = simulate(load_config(path)).to_pandas()
        rows = frame[(frame["region_code"] == "BBB") & (frame["compartment"] == "incidence")]
        return rows["value"].to_numpy()

    daily, mean = beta_incidence(True), beta_incidence(False)
    assert (daily[:6] == 0).all()  # Monday to Saturday: nobody meets Beta's residents
    assert daily[6] > 0  # Sunday 2024-01-14 takes the table's Sunday
    assert (mean[:6] > 0).all()  # the mean matrix mixes every day


def test_arrivals_of_unknown_home_are_spread_by_population(tmp_path):
    arrivals = pa.table(
        {
            "date": pa.array([dt.date(2024, 1, 1)] * 2, pa.date32()),
            "country": ["JPN", "CHN"],
            "region_code": ["unknown", "BBB"],
            "direction": ["inbound", "outbound"],
            "arrivals": pa.array([650, 100], pa.int64()),
            "suppressed": [False, False],
        }
    )
    pq.write_table(arrivals, tmp_path / "importations.parquet")
    from spreadwatch.model.timeline import read_arrivals

    config = load_config(_config(tmp_path, STOCHASTIC))
    regions = config.regions.load()
    day_one = read_arrivals(tmp_path / "importations.parquet", config, regions)[0]
    np.testing.assert_allclose(day_one, [650 * 0.4 / 0.65, 100 + 650 * 0.25 / 0.65])


@pytest.mark.parametrize(
    ("shape", "kind"),
    [((1000, 7, 40), "counts"), ((37, 3, 5), "reals"), ((1, 2, 4), "counts"), ((50, 2, 3), "big")],
)
def test_particle_quantiles_are_numpys_to_the_last_bit(shape, kind):
    from spreadwatch.model.outputs import particle_quantiles

    rng = np.random.default_rng(len(shape) + shape[0])
    values = {
        "counts": lambda: rng.poisson(30, shape).astype(float),  # ties everywhere
        "reals": lambda: rng.normal(0, 1, shape),
        "big": lambda: rng.poisson(5e7, shape).astype(float),  # beyond float32's whole numbers
    }[kind]()
    levels = np.array([0.01, 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975, 0.99])
    np.testing.assert_array_equal(
        particle_quantiles(values, levels), np.quantile(values, levels, axis=0)
    )
