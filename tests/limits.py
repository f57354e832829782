"""Time limits of the tests, from one setting.

``SPREADWATCH_TEST_TIMEOUT`` (seconds, default 120) is how long a test waits for something that
should happen (a server answering, a bridge ready, a job done) before it fails. The default is
generous: the suite must pass on a busy machine (CI shares its cores). A wait for something
that should *not* happen (no message arrives) is short and fixed where it is written.
"""

from __future__ import annotations

import os

TIMEOUT = float(os.environ.get("SPREADWATCH_TEST_TIMEOUT", "120"))


def timeout(factor: float = 1.0) -> float:
    """``factor`` times the setting: a longer wait for the slowest steps."""
    return TIMEOUT * factor
