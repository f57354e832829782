"""Korean administrative geography: 17 sido and 229 si-gun-gu of 2020.

Codes are Statistics Korea (KOSTAT) 5-digit codes of the census boundaries in use; ``mois_code``
holds the Ministry of the Interior code of the same unit.
"""

from spreadwatch.regions.catalog import (
    AGE_COLUMNS,
    LEVELS,
    Level,
    RegionTables,
    load,
    locate,
    to_geojson,
    to_table,
)
from spreadwatch.regions.sources import AGE_BANDS, CONTACT_SETTINGS

__all__ = [
    "AGE_BANDS",
    "AGE_COLUMNS",
    "CONTACT_SETTINGS",
    "LEVELS",
    "Level",
    "RegionTables",
    "load",
    "locate",
    "to_geojson",
    "to_table",
]
