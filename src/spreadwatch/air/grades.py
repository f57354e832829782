"""Korea's PM2.5 grades and the daily thresholds exposure is judged against.

Grades (the Ministry of Environment's forecast bands for PM2.5, ug/m3): 좋음 good 0-15,
보통 moderate 16-35, 나쁨 bad 36-75, 매우나쁨 very bad 76 and above. On a continuous value
the bands are read as at most 15, at most 35, at most 75, above.

Daily thresholds (24-hour means): Korea's environmental standard 35 ug/m3; the WHO's 2021
air-quality guideline 15 ug/m3.
"""

from __future__ import annotations

import numpy as np

#: Upper bounds of the grades below the last (ug/m3).
GRADE_BOUNDS = (15.0, 35.0, 75.0)
GRADES_EN = ("good", "moderate", "bad", "very bad")
GRADES_KO = ("좋음", "보통", "나쁨", "매우나쁨")
KOREA_DAILY_STANDARD = 35.0
WHO_DAILY_GUIDELINE = 15.0
THRESHOLDS = {"korea": KOREA_DAILY_STANDARD, "who": WHO_DAILY_GUIDELINE}


def grade(pm25: np.ndarray | float) -> np.ndarray:
    """The grade index (0 good .. 3 very bad) of each PM2.5 value; -1 where it is NaN."""
    values = np.asarray(pm25, float)
    graded = np.searchsorted(np.asarray(GRADE_BOUNDS), values, side="left")
    return np.where(np.isnan(values), -1, graded)


def grade_names(index: int) -> tuple[str, str]:
    """``(english, korean)`` names of a grade index."""
    return GRADES_EN[index], GRADES_KO[index]
