"""Korea Standard Time, the zone of every local date and hour spreadwatch reports (UTC+9, no
daylight saving time)."""

from __future__ import annotations

import datetime as dt

#: Hours Korea Standard Time is ahead of UTC.
KST_OFFSET_HOURS = 9
KST = dt.timezone(dt.timedelta(hours=KST_OFFSET_HOURS), "KST")
