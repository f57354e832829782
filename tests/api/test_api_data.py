"""The read endpoints against the workspace's own files, filtered by brute force."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadwatch.forecast.hub import frame_of
from spreadwatch.regions import to_table


def every(client, url: str, headers: dict | None = None) -> list[dict]:
    """All rows of a paginated endpoint, following ``next`` with small pages."""
    items, seen = [], 0
    next_url = url + ("&" if "?" in url else "?") + "limit=97"
    while next_url:
        body = client.get(next_url, headers=headers or {}).json()
        assert body["offset"] == seen and body["total"] >= len(body["items"])
        items += body["items"]
        seen += len(body["items"])
        next_url = body["next"]
    assert seen == body["total"]
    return items


def test_regions_pages_join_up_to_the_census_table(client):
    items = every(client, "/api/v1/regions")
    census = to_table("sigungu")
    assert [r["code"] for r in items] == sorted(census["code"])
    suwon = client.get("/api/v1/regions?q=suwon").json()["items"]
    assert {r["name_en"].split("-")[0] for r in suwon} == {"Suwon"}
    row = census.set_index("code").loc["11010"]
    one = client.get("/api/v1/regions/11010").json()
    assert one["population"] == row["population"] and one["name_ko"] == row["name_ko"]
    assert one["neighbors"] == row["neighbors"].split()
    geometry = client.get("/api/v1/regions/geometry")
    assert geometry.headers["content-type"] == "application/geo+json"
    assert {f["id"] for f in geometry.json()["features"]} == set(census["code"])
    sido = client.get("/api/v1/regions/geometry?level=sido").json()
    assert {f["id"] for f in sido["features"]} == set(census["code"].str[:2])


def test_table_endpoints_download_every_matching_row_as_csv(client, site):
    import io

    levels = pq.read_table(site.root / "risk" / "risk_levels.parquet").to_pandas()
    code = levels["region_code"].iloc[0]
    csv = client.get(f"/api/v1/risk-levels?region={code}&format=csv&limit=1")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    got = pd.read_csv(io.StringIO(csv.text.lstrip("\ufeff")), dtype={"region_code": str})
    mine = levels[levels["region_code"] == code]
    assert len(got) == len(mine) > 1  # every row, not one page
    assert got["level"].tolist() == mine.sort_values("date")["level"].tolist()
    names = client.get("/api/v1/regions?sido=11&format=csv").content.decode("utf-8-sig")
    assert "종로구" in names  # Korean names survive (UTF-8 with a BOM for spreadsheets)
    layer = client.get("/api/v1/map/incidence").json()
    table = pd.read_csv(
        io.StringIO(client.get("/api/v1/map/incidence?format=csv").text.lstrip("\ufeff")),
        dtype={"region_code": str},
    )
    assert dict(zip(table["region_code"], table["incidence"], strict=True)) == pytest.approx(
        {k: (float("nan") if v is None else v) for k, v in layer["values"].items()}, nan_ok=True
    )
    bad = client.get("/api/v1/risk-levels?format=xml")
    assert bad.status_code == 422
    analyst = site.headers("analyst")
    for path in ("/api/v1/household-signals", "/api/v1/rt", "/api/v1/importations"):
        json_keys = list(client.get(f"{path}?limit=1", headers=analyst).json()["items"][0])
        header = client.get(f"{path}?format=csv", headers=analyst).text.lstrip("\ufeff")
        assert header.splitlines()[0].split(",") == json_keys, path  # no column the JSON hides


def test_od_flows_of_a_day_are_the_published_table(client, site):
    table = pq.read_table(site.root / "flows" / "od_flows.parquet").to_pandas()
    day = sorted(table["date"].unique())[len(table["date"].unique()) // 2]
    got = pd.DataFrame(every(client, f"/api/v1/od-flows?date={day}"))
    truth = table[table["date"] == day]
    assert len(got) == len(truth)
    assert got["trips"].isna().equals(got["suppressed"]), "suppressed cells carry no count"
    assert (truth[truth["suppressed"]]["trips"] == 0).all()
    kept = truth[~truth["suppressed"]]
    merged = got.dropna().merge(kept, on=["origin", "dest"], suffixes=("", "_file"))
    assert len(merged) == len(kept) and (merged["trips"] == merged["trips_file"]).all()
    shown = got.dropna()["trips"].to_numpy()
    assert (np.diff(shown) <= 0).all(), "strongest first"
    unsuppressed = client.get(f"/api/v1/od-flows?date={day}&suppressed=false&limit=5").json()
    assert unsuppressed["total"] == len(kept)
    assert [r["trips"] for r in unsuppressed["items"]] == sorted(kept["trips"], reverse=True)[:5]
    dates = client.get("/api/v1/od-flows/dates").json()
    assert dates == [d.isoformat() for d in sorted(table["date"].unique())]
    released = client.get("/api/v1/od-flows/dates?suppressed=false").json()
    assert released == [d.isoformat() for d in sorted(table[~table["suppressed"]]["date"].unique())]


def test_presence_filters_match_brute_force(client, site):
    table = pq.read_table(site.root / "flows" / "presence.parquet").to_pandas()
    kept = table[~table["suppressed"]]
    row = kept.iloc[len(kept) // 3]
    url = f"/api/v1/presence?date={row['date']}&hour={row['hour']}&region={row['region_code']}"
    body = client.get(url).json()
    assert body["total"] == 1 and body["items"][0]["people"] == row["people"]
    hour = every(client, f"/api/v1/presence?hour={row['hour']}")
    assert len(hour) == (table["hour"] == row["hour"]).sum()


def test_map_layers_are_the_risk_and_rt_tables(client, site):
    levels = pq.read_table(site.root / "risk" / "risk_levels.parquet").to_pandas()
    last = max(levels["date"])
    layer = client.get("/api/v1/map/risk_level").json()
    assert layer["date"] == last.isoformat()
    assert layer["dates"] == [d.isoformat() for d in sorted(levels["date"].unique())]
    today = levels[levels["date"] == last].set_index("region_code")["level"]
    assert layer["values"] == {code: float(v) for code, v in today.items()}
    first = client.get(f"/api/v1/map/incidence?date={layer['dates'][0]}").json()
    day0 = levels[levels["date"] == min(levels["date"])].set_index("region_code")["incidence"]
    assert first["values"] == pytest.approx(day0.to_dict())
    rt = pd.read_csv(site.root / "model" / "rt.csv", dtype={"region_code": str})
    rt_layer = client.get("/api/v1/map/rt").json()
    latest = rt[(rt["date"] == rt_layer["date"]) & (rt["region_code"] != "total")]
    reliable = latest[latest["reliable"]].set_index("region_code")["mean"]
    shown = {k: v for k, v in rt_layer["values"].items() if v is not None}
    assert shown == pytest.approx(reliable.to_dict())
    missing = client.get("/api/v1/map/rt?date=1999-01-01")
    assert missing.status_code == 404 and "1999-01-01" in missing.json()["detail"]


def test_fan_chart_is_the_forecast_table_and_the_cases(client, site):
    forecasts = frame_of(pq.read_table(site.root / "forecast" / "forecasts.parquet"))
    location = forecasts[forecasts["location"].str.len() == 5]["location"].iloc[0]
    fan = client.get(f"/api/v1/forecasts/{location}/fan?history_days=365").json()
    default = forecasts.attrs["default_model"]  # the demo's backtest winner
    assert fan["model"] == default and set(fan["models"]) == set(forecasts["model"])
    mine = forecasts[(forecasts["location"] == location) & (forecasts["model"] == default)]
    for point in fan["forecast"]:
        day = mine[mine["target_end_date"] == dt.date.fromisoformat(point["date"])]
        median = day[(day["output_type"] == "quantile") & np.isclose(day["output_type_id"], 0.5)]
        assert point["q0.5"] == pytest.approx(median["value"].item())
        assert point["q0.05"] <= point["q0.5"] <= point["q0.95"]
    cases = pq.read_table(site.root / "ingest" / "cases").to_pandas()
    own = cases[cases["region_code"] == location]
    assert sum(p["confirmed"] for p in fan["observed"]) == own["confirmed"].sum()
    total = client.get("/api/v1/forecasts/total/fan?history_days=365").json()
    assert sum(p["confirmed"] for p in total["observed"]) == cases["confirmed"].sum()
    sido = location[:2]  # the sido's fan: its forecast, and the sum of its districts' cases
    province = client.get(f"/api/v1/forecasts/{sido}/fan?history_days=365").json()
    inside = cases[cases["region_code"].str.startswith(sido)]
    assert sum(p["confirmed"] for p in province["observed"]) == inside["confirmed"].sum()
    means = forecasts[(forecasts["model"] == default) & (forecasts["output_type"] == "mean")]
    districts = means[means["location"].str.len() == 5].copy()
    districts = districts[districts["location"].str.startswith(sido)]
    expected = districts.groupby("target_end_date")["value"].sum()
    for point in province["forecast"]:
        day = dt.date.fromisoformat(point["date"])
        assert point["mean"] == pytest.approx(expected[day])
    hub = every(client, f"/api/v1/forecasts?location={location}&model=baseline")
    assert (
        len(hub) == ((forecasts["location"] == location) & (forecasts["model"] == "baseline")).sum()
    )
    assert client.get(f"/api/v1/forecasts/{location}/fan?model=oracle").status_code == 404


def test_rt_rows_are_the_rt_file(client, site):
    rt = pd.read_csv(site.root / "model" / "rt.csv", dtype={"region_code": str})
    total = every(client, "/api/v1/rt?region=total")
    truth = rt[rt["region_code"] == "total"]
    assert [r["date"] for r in total] == list(truth["date"])
    assert [r["mean"] for r in total] == pytest.approx(list(truth["mean"]))


def test_analyst_tables(client, site):
    analyst = site.headers("analyst")
    imports = pq.read_table(site.root / "flows" / "importations.parquet").to_pandas()
    by_country = client.get("/api/v1/importations/by-country", headers=analyst).json()
    kept = imports[~imports["suppressed"]].groupby("country")["arrivals"].sum()
    assert {r["country"]: r["arrivals"] for r in by_country} == kept.to_dict()
    assert [r["arrivals"] for r in by_country] == sorted(kept, reverse=True)
    signals = pq.read_table(site.root / "flows" / "household_signals.parquet").to_pandas()
    rows = pd.DataFrame(every(client, "/api/v1/household-signals", analyst))
    assert len(rows) == len(signals)
    hidden = rows[rows["suppressed"]]
    assert hidden[["households", "fever_rate", "stay_home_index"]].isna().all().all()
    for url in ("/api/v1/importations", "/api/v1/household-signals", "/api/v1/alerts"):
        denied = client.get(url)
        assert denied.status_code == 403
        assert denied.headers["content-type"] == "application/problem+json"


def test_cases_and_risk_levels_filters(client, site):
    cases = pq.read_table(site.root / "ingest" / "cases").to_pandas()
    code = cases.groupby("region_code")["confirmed"].sum().idxmax()
    got = every(client, f"/api/v1/cases?region={code}")
    assert (
        sum(r["confirmed"] for r in got) == cases[cases["region_code"] == code]["confirmed"].sum()
    )
    levels = pq.read_table(site.root / "risk" / "risk_levels.parquet").to_pandas()
    level = int(levels["level"].max())
    high = every(client, f"/api/v1/risk-levels?level={level}")
    assert len(high) == (levels["level"] == level).sum()
    assert all(r["explanation"].startswith(f"level {level}") for r in high)


def test_errors_are_problem_details_naming_the_field(client):
    bad = client.get("/api/v1/od-flows?limit=5000&date=yesterday")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    body = bad.json()
    assert {e["field"] for e in body["errors"]} == {"query.limit", "query.date"}
    assert body["status"] == 422 and body["type"].endswith("/invalid-request")
    assert client.get("/api/v1/regions/99999").json()["type"].endswith("/unknown-region")
    missing = client.get("/api/v1/od-flows?release=dp")
    assert missing.status_code == 404 and "spreadwatch release" in missing.json()["detail"]
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["title"] == "Not Found"
    refused = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]


def test_a_rewritten_table_is_served_without_a_restart(client, site):
    path = site.root / "risk" / "risk_levels.parquet"
    before = client.get("/api/v1/map/risk_level").json()
    table = pq.read_table(path).to_pandas()
    last = table["date"] == table["date"].max()
    code = table.loc[last, "region_code"].iloc[0]
    table.loc[last & (table["region_code"] == code), "level"] = 4
    (site.root / "risk").unlink()  # the shared folder stays as it is
    (site.root / "risk").mkdir()
    time.sleep(0.01)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    after = client.get("/api/v1/map/risk_level").json()
    assert after["values"][code] == 4.0
    assert sum(v != after["values"][k] for k, v in before["values"].items()) <= 1


def test_national_household_signals_are_household_weighted(client, site):
    signals = pq.read_table(site.root / "flows" / "household_signals.parquet").to_pandas()
    released = signals[~signals["suppressed"]]
    got = client.get("/api/v1/household-signals/national", headers=site.headers("analyst")).json()
    assert [d["date"] for d in got] == [d.isoformat() for d in sorted(released["date"].unique())]
    for day in got:
        rows = released[released["date"] == dt.date.fromisoformat(day["date"])]
        assert day["households"] == rows["households"].sum()
        weighted = (rows["fever_rate"] * rows["households"]).sum() / rows["households"].sum()
        assert day["fever_rate"] == pytest.approx(weighted)


def test_the_alert_log_is_read_while_the_bridge_appends(client, site):
    log = site.root / "bridge" / "alert_log.jsonl"
    log.parent.mkdir()
    record = '{"sent_at": "2020-02-10T09:00:00+00:00", "kind": "risk_level_rise", '
    tail = '"date": "2020-02-10", "level": 3, "households": 7}'
    lines = [record + f'"region_code": "{code}", ' + tail for code in ("27140", "27290")]
    log.write_text("\n".join(lines) + "\n" + record[:30])  # the last line is being written
    analyst = site.headers("analyst")
    body = client.get("/api/v1/alerts", headers=analyst).json()
    assert [a["region_code"] for a in body["items"]] == ["27290", "27140"]  # newest first
    log.write_text(lines[0] + "\n{broken\n" + lines[1] + "\n")
    corrupt = client.get("/api/v1/alerts", headers=analyst)
    assert corrupt.status_code == 503 and "alert_log.jsonl:2" in corrupt.json()["detail"]


def test_dates_are_iso_dates_only(client):
    """1580515200 (epoch seconds), 0 and a timestamp are not read as dates."""
    for bad in ("1580515200", "0", "2020-02-01T00:00", "20200201"):
        answer = client.get(f"/api/v1/risk-levels?date={bad}")
        assert answer.status_code == 422, bad
        assert "YYYY-MM-DD" in answer.json()["detail"]
    levels = client.get("/api/v1/risk-levels?limit=1").json()["items"]
    one = client.get(f"/api/v1/risk-levels?date={levels[0]['date']}&limit=1")
    assert one.status_code == 200 and one.json()["items"][0]["date"] == levels[0]["date"]


def test_options_names_every_method_of_a_path(client):
    both = client.options("/api/v1/scenario-runs")
    assert both.status_code == 204
    assert set(both.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    assert client.options("/api/v1/regions").headers["allow"] == "GET, OPTIONS"
    assert client.options("/api/v1/no-such-table").status_code == 404


def test_fine_dust_layers_read_back_the_air_outputs(client, site):
    field = pq.read_table(site.root / "air" / "field.parquet").to_pandas()
    exposure = pq.read_table(site.root / "air" / "exposure.parquet").to_pandas()
    latest = field["ts"].max()
    layer = client.get("/api/v1/air/map").json()
    assert pd.Timestamp(layer["hour"]) == latest and layer["layer"] == "pm25"
    now = field[field["ts"] == latest].set_index("region_code")
    assert layer["values"] == pytest.approx(now["pm25"].round(2).to_dict())
    assert layer["grades"] == now["grade"].astype(int).to_dict()
    hour = field["ts"].min() + pd.Timedelta(hours=30)
    stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    people = client.get(f"/api/v1/air/map?layer=people&hour={stamp}").json()
    then = exposure[exposure["ts"] == hour].set_index("region_code")["people"]
    assert people["values"] == pytest.approx(then.round(2).to_dict())
    kst = client.get("/api/v1/air/map?hour=" + (hour + pd.Timedelta(hours=9)).strftime(
        "%Y-%m-%dT%H:%M:%S%%2B09:00")).json()  # fmt: skip
    assert kst["hour"] == people["hour"]  # the same hour, written in Korean time
    missing = client.get("/api/v1/air/map?hour=1999-01-01T00:00:00Z")
    assert (
        missing.status_code == 404 and "no values at 1999-01-01T00:00Z" in missing.json()["detail"]
    )
    assert client.get("/api/v1/air/map?layer=ozone").status_code == 422


def test_a_fine_dust_day_has_24_korean_hours_of_every_region(client, site):
    field = pq.read_table(site.root / "air" / "field.parquet").to_pandas()
    day = client.get("/api/v1/air/day").json()
    hours = pd.to_datetime(day["hours"])
    assert len(hours) == 24 and (hours.tz_convert("Asia/Seoul").hour == list(range(24))).all()
    assert day["date"] == day["dates"][-1]
    code = "11010"
    mine = field[field["region_code"] == code].set_index("ts")["pm25"]
    assert day["values"][code] == pytest.approx(mine.loc[hours].round(2).tolist())
    first = client.get(f"/api/v1/air/day?date={day['dates'][0]}").json()
    assert first["date"] == day["dates"][0]
    assert client.get("/api/v1/air/day?date=1999-01-01").status_code == 404


def test_fine_dust_daily_rows_and_a_region_s_hours_and_forecast(client, site):
    daily = pq.read_table(site.root / "air" / "daily.parquet").to_pandas()
    rows = every(client, "/api/v1/air/daily")
    assert [r["date"] for r in rows] == [str(d) for d in daily["date"]]
    assert rows[0]["share_above_who"] == pytest.approx(daily["share_above_who"].iloc[0])
    region = client.get("/api/v1/air/regions/22020").json()
    assert len(region["observed"]) == 72 and len(region["forecast"]) == 24
    point = region["forecast"][0]
    assert point["q0.05"] <= point["q0.25"] <= point["median"] <= point["q0.75"] <= point["q0.95"]
    assert client.get("/api/v1/air/regions/99999").status_code == 404
