"""Fine dust on the synthetic truth: the field, the population's exposure, the forecast.

Two synthetic worlds, each ingested and fused as a user would (``spreadwatch ingest``,
``flows``), then ``spreadwatch.air.run.assess``:

* a week of 120,000 subscribers (presence as dense as a carrier's sample of a district):
  ``pm25_field_rmse_vs_truth`` (kriged district PM2.5 against the true district means, ug/m3)
  beside ``pm25_idw_rmse_vs_truth`` (inverse-distance weighting of the same readings, the
  baseline) and their ratio ``pm25_field_vs_idw_rmse`` (goal: at most 0.8);
  ``exposure_error_dynamic_vs_static``: the error of the dynamic exposure map (person-ug/m3
  per district and hour, presence x air breathed) over that of the static one (census at home
  x outdoor PM2.5), each ``sum |estimate - truth| / sum truth`` (goal: at most 0.5), with
  both errors and ``exposure_error_dynamic_vs_census_indoor`` (the static census with the same
  indoor air: what presence alone adds), and ``share_above_korea_abs_error`` (the daily share
  of people above 35 ug/m3, mean absolute error in points of share);
  ``purifier_proxy_rmse_unmonitored`` beside ``pm25_field_rmse_unmonitored``: in districts
  without a station, the outdoor PM2.5 a district-hour's manual-mode purifiers imply (their
  indoor readings with the purifier off over the national infiltration) against the kriged
  field, both against the truth: whether the purifiers could correct the outdoor field;
* six weeks of 2,000 subscribers (episodes every ~6 days): ``air_forecast_relative_wis``, the
  next-24-hour forecast's weighted interval score over persistence's, against the true
  district means, from origins every 6 hours over the last 14 days, by a model fitted on the
  kriged field's hours before the first of them (goal: at most 0.8).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadwatch import regions
from spreadwatch.air import exposure as ex
from spreadwatch.air.field import estimate_field
from spreadwatch.air.forecast import HORIZON_HOURS, AirForecaster, relative_wis
from spreadwatch.air.indoor import purifier_readings
from spreadwatch.air.run import assess
from spreadwatch.fusion import running
from spreadwatch.fusion.flows import build_flows
from spreadwatch.ingest import Store
from spreadwatch.ingest.batch import ingest_sources
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.synth import SynthConfig, generate
from spreadwatch.synth.generate import synth_sources

KEY = KeyRing(bytes(range(32)))
CODES = regions.load("sigungu").regions["code"].to_numpy(object)
SUBSCRIBERS = int(os.environ.get("SPREADWATCH_BENCH_AIR_SUBSCRIBERS", "120000"))


def _world(root: Path, config: SynthConfig, sources: list[str] | None = None) -> None:
    generate(config, root / "world")
    raw = synth_sources(root / "world" / "raw", sources)
    ingest_sources(root / "store", raw, KEY, follow=running.follow)
    if "location" in raw:
        build_flows(root / "store", root / "flows")


def _grid(root: Path, name: str, column: str, table_dir: str = "world/truth") -> np.ndarray:
    table = pq.read_table(root / table_dir / f"{name}.parquet").sort_by(
        [("ts", "ascending"), ("region_code", "ascending")]
    )
    return table[column].to_numpy().reshape(-1, 229)


def _exposure(root: Path) -> dict[str, float]:
    _world(root, SynthConfig(subscribers=SUBSCRIBERS, days=7, seed=21))
    assess(root / "store", root / "flows", root / "air", forecast=False)
    truth = {c: _grid(root, "air", c) for c in ("pm25", "exposure")}
    field = {c: _grid(root, "field", c, "air") for c in ("pm25", "pm25_idw")}
    out = pq.read_table(root / "air" / "exposure.parquet").sort_by(
        [("ts", "ascending"), ("region_code", "ascending")]
    )
    dynamic = out["exposure"].to_numpy().reshape(-1, 229)
    static = out["exposure_static"].to_numpy().reshape(-1, 229)
    census = out["census"].to_numpy().reshape(-1, 229)
    breathed = out["pm25_breathed"].to_numpy().reshape(-1, 229)
    errors = {
        "dynamic": ex.relative_error(dynamic, truth["exposure"]),
        "static": ex.relative_error(static, truth["exposure"]),
        "census_indoor": ex.relative_error(census * breathed, truth["exposure"]),
    }
    daily = pq.read_table(root / "air" / "daily.parquet").to_pandas()
    true_daily = pq.read_table(root / "world" / "truth" / "air_daily.parquet").to_pandas()
    merged = daily.merge(true_daily, on="date", suffixes=("", "_true"))

    def rmse(estimate: np.ndarray) -> float:
        return float(np.sqrt(np.mean((estimate - truth["pm25"]) ** 2)))

    kriged, idw = rmse(field["pm25"]), rmse(field["pm25_idw"])
    proxy, kriged_there = _purifier_proxy(root, field["pm25"], truth["pm25"])
    share_error = (merged["share_above_korea"] - merged["share_above_korea_true"]).abs().mean()
    return {
        "pm25_field_rmse_vs_truth": round(kriged, 3),
        "pm25_idw_rmse_vs_truth": round(idw, 3),
        "pm25_field_vs_idw_rmse": round(kriged / idw, 3),
        "exposure_error_dynamic": round(errors["dynamic"], 4),
        "exposure_error_static": round(errors["static"], 4),
        "exposure_error_dynamic_vs_static": round(errors["dynamic"] / errors["static"], 4),
        "exposure_error_dynamic_vs_census_indoor": round(
            errors["dynamic"] / errors["census_indoor"], 4
        ),
        "share_above_korea_abs_error": round(float(share_error), 4),
        "purifier_proxy_rmse_unmonitored": round(proxy, 3),
        "pm25_field_rmse_unmonitored": round(kriged_there, 3),
        "air_bench_subscribers": SUBSCRIBERS,
    }


def _purifier_proxy(root: Path, field: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """RMSE against the truth of the purifiers' outdoor proxy and of the kriged field, over
    the district-hours of districts without a station that have a manual purifier off."""
    with Store(root / "store") as store:
        stations = store.read("air_stations")
        readings = purifier_readings(store.read("telemetry"), store.read("households"), CODES)
    first = pq.read_table(root / "air" / "field.parquet", columns=["ts"])["ts"]
    start = np.datetime64(pc.min(first).as_py().replace(tzinfo=None), "h")
    row = readings.hour - start.astype(np.int64)
    monitored = np.isin(CODES, stations["region_code"].to_numpy(zero_copy_only=False))
    off = ~readings.on & ~readings.auto
    ratio = readings.indoor / field[row, readings.district]
    infiltration = np.median(ratio[off & monitored[readings.district]])
    sums, counts = np.zeros_like(field), np.zeros_like(field)
    where = (row[off], readings.district[off])
    np.add.at(sums, where, readings.indoor[off] / infiltration)
    np.add.at(counts, where, 1)
    cells = (counts > 0) & ~monitored[None, :]
    proxy = sums[cells] / counts[cells]
    return (
        float(np.sqrt(np.mean((proxy - truth[cells]) ** 2))),
        float(np.sqrt(np.mean((field[cells] - truth[cells]) ** 2))),
    )


def _forecast(root: Path) -> dict[str, float]:
    _world(root, SynthConfig(subscribers=2000, days=42, seed=22), ["air_stations", "air_readings"])
    with Store(root / "store") as store:
        field = estimate_field(store.read("air_stations"), store.read("air_readings"))
    truth = _grid(root, "air", "pm25")
    hours = truth.shape[0]
    origins = np.arange(hours - 14 * 24, hours - HORIZON_HOURS, 6)
    ours, persistence, ratio = relative_wis(AirForecaster(field.mean, field.start), origins, truth)
    return {
        "air_forecast_wis": round(ours, 3),
        "air_persistence_wis": round(persistence, 3),
        "air_forecast_relative_wis": round(ratio, 3),
    }


def run() -> dict[str, float]:
    os.environ.setdefault("SPREADWATCH_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="spreadwatch-bench-air-") as tmp:
        figures = _exposure(Path(tmp) / "week")
        figures.update(_forecast(Path(tmp) / "season"))
    return figures
