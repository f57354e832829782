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


class AlertRecord(BaseModel):
    sent_at: str
    kind: str = Field(description="risk_level_rise or traveler_notice.")
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
