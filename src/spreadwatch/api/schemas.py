"""The API's response bodies (their JSON Schemas are in the served OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

RegionCode = Field(pattern=r"^\d{5}$", description="5-digit KOSTAT si-gun-gu code.")


class Region(BaseModel):
    code: str
    mois_code: str
    sido_code: str
    name_ko: str
    name_en: str
    sido_name_ko: str
    sido_name_en: str
    population: int
    area_km2: float
    centroid_lat: float
    centroid_lon: float
    neighbors: list[str]


class CaseRow(BaseModel):
    region_code: str
    date: dt.date
    confirmed: int


class OdFlow(BaseModel):
    date: dt.date
    origin: str
    dest: str
    trips: int | None = Field(
        description="Trips; null when suppressed (below k). Differentially private releases "
        "carry noise (negative draws are released as 0)."
    )
    suppressed: bool


class PresenceRow(BaseModel):
    date: dt.date
    hour: int
    region_code: str
    people: int | None = Field(description="People present; null when suppressed (below k).")
    suppressed: bool


class Importation(BaseModel):
    date: dt.date
    country: str
    region_code: str
    direction: str
    arrivals: int | None
    suppressed: bool


class CountryArrivals(BaseModel):
    country: str
    arrivals: int
    regions: int


class HouseholdSignal(BaseModel):
    date: dt.date
    region_code: str
    households: int | None
    stay_home_index: float | None
    fever_rate: float | None
    suppressed: bool


class NationalSignal(BaseModel):
    date: dt.date
    households: int
    regions: int
    fever_rate: float | None
    stay_home_index: float | None


class RtRow(BaseModel):
    region_code: str = Field(description="Region code, or 'total'.")
    date: dt.date
    window_start: dt.date
    cases: int
    mean: float | None
    std: float | None
    q0_025: float | None = Field(alias="q0.025")
    q0_5: float | None = Field(alias="q0.5")
    q0_975: float | None = Field(alias="q0.975")
    reliable: bool


class ForecastRow(BaseModel):
    model: str
    origin_date: dt.date
    target: str
    horizon: int
    target_end_date: dt.date
    location: str
    output_type: Literal["mean", "quantile"]
    output_type_id: float | None
    value: float


class FanPoint(BaseModel):
    date: dt.date
    mean: float | None
    q0_05: float | None = Field(alias="q0.05")
    q0_25: float | None = Field(alias="q0.25")
    q0_5: float | None = Field(alias="q0.5")
    q0_75: float | None = Field(alias="q0.75")
    q0_95: float | None = Field(alias="q0.95")


class ObservedPoint(BaseModel):
    date: dt.date
    confirmed: int


class FanChart(BaseModel):
    location: str
    model: str
    models: list[str]
    origin_date: dt.date
    observed: list[ObservedPoint]
    forecast: list[FanPoint]


class RiskLevel(BaseModel):
    date: dt.date
    region_code: str
    level: int = Field(ge=1, le=4)
    level_name: str
    score: float
    incidence: float | None
    rt: float | None
    growth: float | None
    importation: float | None
    household: float | None
    incidence_points: int | None = None
    rt_points: int | None = None
    growth_points: int | None = None
    importation_points: int | None = None
    household_points: int | None = None
    incidence_contribution: float | None
    rt_contribution: float | None
    growth_contribution: float | None
    importation_contribution: float | None
    household_contribution: float | None
    explanation: str


MapMetric = Literal["risk_level", "incidence", "rt"]


class MapLayer(BaseModel):
    """One metric for every region on one date (the dashboard's map)."""

    metric: MapMetric
    date: dt.date
    dates: list[dt.date] = Field(description="Every date the metric has, oldest first.")
    unit: str
    values: dict[str, float | None] = Field(description="Value by region code.")


#: A fine-dust map layer: outdoor PM2.5, PM2.5 breathed where people are, people present, or
#: exposure (people x PM2.5 breathed).
AirLayerName = Literal["pm25", "breathed", "people", "exposure"]


class AirMap(BaseModel):
    """One fine-dust layer for every region at one hour."""

    layer: AirLayerName
    hour: dt.datetime = Field(description="The hour (UTC).")
    first_hour: dt.datetime
    last_hour: dt.datetime
    unit: str
    values: dict[str, float] = Field(description="Value by region code.")
    grades: dict[str, int] = Field(
        description="Korean PM2.5 grade by region code (0 좋음, 1 보통, 2 나쁨, 3 매우나쁨) of "
        "the outdoor field (pm25 and breathed layers: of the layer's value)."
    )


class AirDay(BaseModel):
    """One fine-dust layer for every region at each hour of a Korean day (the animation)."""

    layer: AirLayerName
    date: dt.date = Field(description="The Korean date (KST).")
    dates: list[dt.date] = Field(description="Every Korean date with all 24 hours.")
    hours: list[dt.datetime] = Field(description="The day's hours (UTC), 00 to 23 KST.")
    unit: str
    values: dict[str, list[float | None]] = Field(description="Per region, a value per hour.")


class AirDailyRow(BaseModel):
    date: dt.date
    pm25_weighted: float = Field(description="Population-weighted PM2.5 breathed, ug/m3.")
    pm25_weighted_static: float = Field(description="The census at home, outdoors.")
    share_above_korea: float = Field(description="People whose day's mean exceeds 35 ug/m3.")
    share_above_korea_static: float
    share_above_who: float = Field(description="... exceeds the WHO's 15 ug/m3.")
    share_above_who_static: float


class AirPoint(BaseModel):
    ts: dt.datetime
    pm25: float
    pm25_sd: float | None = Field(description="Null for an hour filled in time (an outage).")


class AirForecastPoint(BaseModel):
    ts: dt.datetime
    median: float
    q05: float = Field(alias="q0.05", serialization_alias="q0.05")
    q25: float = Field(alias="q0.25", serialization_alias="q0.25")
    q75: float = Field(alias="q0.75", serialization_alias="q0.75")
    q95: float = Field(alias="q0.95", serialization_alias="q0.95")


class AirRegion(BaseModel):
    """A region's last days of PM2.5 (kriged, with its uncertainty) and the next 24 hours."""

    region_code: str
    observed: list[AirPoint]
    forecast: list[AirForecastPoint]


class AlertRecord(BaseModel):
    sent_at: str
    kind: str = Field(description="risk_level_rise, traveler_notice or air_grade_rise.")
    region_code: str
    date: str | None = Field(description="The level's date, or the notices' as-of date.")
    level: int | None = Field(description="The level risen to; null for traveler notices.")
    households: int = Field(description="Households of the region the alerts reached.")
    notices: int | None = Field(
        default=None,
        description="Traveler notices sent to them (one per member and country); null for "
        "risk-level rises.",
    )


class AuditEntry(BaseModel):
    at: str
    actor: str
    role: str
    action: str
    params: dict
    outcome: str
    hash: str


class AuditPage(BaseModel):
    chain_intact: bool
    broken_at_line: int | None
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int
    next: str | None


class Me(BaseModel):
    name: str
    role: str
    permissions: list[str]


class DatasetInfo(BaseModel):
    name: str
    available: bool
    permission: str
    produced_by: str


class Health(BaseModel):
    status: Literal["ok"]
    workspace: str
    datasets: list[DatasetInfo]
