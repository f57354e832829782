"""Risk: importation risk, traveler notices, and risk levels per region and day.

The names below are imported on first use, so that a light submodule (``risk.notices``, read
by the home bridge) does not pull in the inference stack that importation risk needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spreadwatch.risk.importation import importation_risk, read_incidence
    from spreadwatch.risk.notices import traveler_notices

_HOMES = {
    "importation_risk": "spreadwatch.risk.importation",
    "read_incidence": "spreadwatch.risk.importation",
    "traveler_notices": "spreadwatch.risk.notices",
}
__all__ = ["importation_risk", "read_incidence", "traveler_notices"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
