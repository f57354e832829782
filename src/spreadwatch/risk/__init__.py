"""Risk: importation risk, traveler notices, and risk levels per region and day."""

from spreadwatch.risk.importation import importation_risk, read_incidence
from spreadwatch.risk.notices import traveler_notices

__all__ = ["importation_risk", "read_incidence", "traveler_notices"]
