"""spreadwatch: epidemic spread prediction from carrier, roaming and home-IoT data."""

import os as _os
from pathlib import Path as _Path

__version__ = "0.1.0"

# numba's compiled kernels are cached in the user's cache folder, not beside the sources
# (`make env` fills it once, so a user's first run does not spend minutes compiling)
_os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(
        _Path(_os.environ.get("XDG_CACHE_HOME") or _Path.home() / ".cache")
        / "spreadwatch"
        / "numba"
    ),
)
