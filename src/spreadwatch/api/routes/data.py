"""Read endpoints: regions, cases, flows, presence, importations, household signals, Rt,
forecasts, risk levels, the map layer, the alert log and fine dust (one module per topic)."""

from __future__ import annotations

from spreadwatch.api.routes import air, epidemic, mobility, places  # noqa: F401 (their endpoints)
from spreadwatch.api.routes.common import (
    air_router,
    alerts_router,
    epidemic_router,
    forecasts_router,
    households_router,
    importation_router,
    mobility_router,
    regions_router,
    risk_router,
)

#: Every router of the read endpoints, in the order the API documents them.
ROUTERS = (
    regions_router,
    epidemic_router,
    mobility_router,
    importation_router,
    households_router,
    forecasts_router,
    risk_router,
    air_router,
    alerts_router,
)
