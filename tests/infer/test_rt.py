"""Rt by Cori et al.'s method, against R's EpiEstim on its own data sets (Flu2009, SARS2003;
reference values written by data/make_epiestim_reference.R), a brute-force loop, and the
renewal equation's answer for exponential growth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest
from scipy import stats
from typer.testing import CliRunner

from spreadwatch.cli import app
from spreadwatch.infer import CasesError, discretised_serial_interval, estimate_rt, read_cases

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("name", "mean", "sd"), [("flu2009", 2.6, 1.5), ("sars2003", 8.4, 3.8)])
def test_serial_interval_is_epiestims(name, mean, sd):
    reference = pd.read_csv(DATA / f"{name}_si.csv")["w"].to_numpy()
    ours = discretised_serial_interval(mean, sd)
    size = min(len(ours), len(reference))
    np.testing.assert_allclose(ours[:size], reference[:size], atol=1e-6)


@pytest.mark.parametrize(("name", "mean", "sd"), [("flu2009", 2.6, 1.5), ("sars2003", 8.4, 3.8)])
def test_posterior_is_epiestims(name, mean, sd):
    incidence = pd.read_csv(DATA / f"{name}_incidence.csv")["cases"].to_numpy()
    reference = pd.read_csv(DATA / f"{name}_epiestim.csv")
    estimate = estimate_rt(incidence, discretised_serial_interval(mean, sd))
    np.testing.assert_array_equal(estimate.window_start + 1, reference["t_start"])
    np.testing.assert_array_equal(estimate.window_end + 1, reference["t_end"])
    np.testing.assert_allclose(estimate.mean[:, 0], reference["mean"], rtol=1e-5)
    np.testing.assert_allclose(estimate.std[:, 0], reference["std"], rtol=1e-5)
    for level, column in ((0.025, "q0.025"), (0.5, "q0.5"), (0.975, "q0.975")):
        np.testing.assert_allclose(estimate.quantile(level)[:, 0], reference[column], rtol=1e-5)


def test_posterior_matches_a_brute_force_loop():
    incidence = [2, 0, 3, 5, 4, 8, 7, 12, 10, 15, 14]
    w = np.array([0, 0.2, 0.5, 0.3])
    a, b = 1.0, 5.0  # prior mean 5, sd 5
    window = 4
    estimate = estimate_rt(incidence, w, window=window)
    for row, end in enumerate(range(window, len(incidence))):
        shape, rate = a, 1 / b
        for s in range(end - window + 1, end + 1):
            shape += incidence[s]
            rate += sum(incidence[s - k] * w[k] for k in range(1, len(w)) if s - k >= 0)
        assert estimate.mean[row, 0] == pytest.approx(shape / rate)
        assert estimate.quantile(0.95)[row, 0] == pytest.approx(
            stats.gamma.ppf(0.95, shape, scale=1 / rate)
        )


def test_exponential_growth_gives_the_renewal_equation_answer():
    """I_t = I_0 e^{rt} solves the renewal equation with R = 1 / sum_k w_k e^{-rk}."""
    w = discretised_serial_interval(4.8, 2.3)
    for r in (-0.05, 0.0, 0.1):
        incidence = 1e7 * np.exp(r * np.arange(120))
        estimate = estimate_rt(incidence, w)
        expected = 1 / np.sum(w * np.exp(-r * np.arange(len(w))))
        assert estimate.mean[-1, 0] == pytest.approx(expected, rel=1e-5)
        assert estimate.std[-1, 0] < 0.01 * expected


def test_cli_writes_rt_per_region_and_total(tmp_path):
    flu = pd.read_csv(DATA / "flu2009_incidence.csv")
    dates = pd.date_range("2009-04-27", periods=len(flu)).strftime("%Y-%m-%d")
    frame = pd.concat(
        [
            pd.DataFrame({"region_code": "A", "date": dates, "confirmed": flu["cases"]}),
            pd.DataFrame({"region_code": "B", "date": dates, "confirmed": 2 * flu["cases"]}),
        ]
    )
    frame.to_csv(tmp_path / "cases.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["rt", "--cases", str(tmp_path / "cases.csv"), "--out", str(tmp_path / "rt.csv"),
         "--si-mean", "2.6", "--si-sd", "1.5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(tmp_path / "rt.csv").to_pandas()
    assert set(table["region_code"]) == {"A", "B", "total"}
    reference = pd.read_csv(DATA / "flu2009_epiestim.csv")
    a = table[table["region_code"] == "A"]
    np.testing.assert_allclose(a["mean"].to_numpy(), reference["mean"], rtol=1e-5)
    assert a["date"].iloc[0].isoformat()[:10] == "2009-05-04"  # day 8, the first window's end
    assert (table["reliable"] == (table["cases"] >= 12)).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("region_code,date,confirmed\nA,2020-02-31,3\n", "row 1, column date: expected a date"),
        (
            "region_code,date,confirmed\nA,2020-02-01,-3\n",
            "row 1, column confirmed: expected a count",
        ),
        (
            "region_code,date,confirmed\nA,2020-02-01,2.5\n",
            "row 1, column confirmed: expected a count",
        ),
        ("region_code,date,confirmed\nA,2020-02-01,1\nA,2020-02-01,2\n", "row 2: a second count"),
        ("place,date,confirmed\nA,2020-02-01,1\n", "no region column (expected one of region_code"),
        ("region,date,n\nA,2020-02-01,1\n", "no count column"),
    ],
)
def test_cases_file_errors_name_row_and_column(tmp_path, text, message):
    path = tmp_path / "cases.csv"
    path.write_text(text)
    with pytest.raises(CasesError) as info:
        read_cases(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_windows_stop_at_each_regions_last_report(tmp_path):
    path = tmp_path / "cases.csv"
    rows = [f"A,2020-02-{d:02d},{d}" for d in range(1, 21)] + [
        f"B,2020-02-{d:02d},{d}" for d in range(1, 12) if d != 5
    ]
    path.write_text("region,date,count\n" + "\n".join(rows) + "\n")
    series = read_cases(path)
    assert series.filled == {"B": 1}
    from spreadwatch.infer import rt_table

    table = rt_table(series, 4.8, 2.3).to_pandas()
    assert table.groupby("region_code")["date"].max().astype(str).to_dict() == {
        "A": "2020-02-20",
        "B": "2020-02-11",
    }
