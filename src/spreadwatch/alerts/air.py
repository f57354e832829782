"""Fine-dust statuses of the regions, and the alert households get when their region's
PM2.5 grade rises to 나쁨 (bad) or 매우나쁨 (very bad).

A status comes from the folder of ``spreadwatch air assess``: the latest hour of
``field.parquet`` (PM2.5 and its Korean grade per si-gun-gu) and, when ``forecast.parquet``
starts from that hour, the highest median over the next 24 hours. The alert tells the
household what to do (purifier on, windows closed, sensitive members indoors); an appliance
display also gets a ``recommend`` object it can offer as one tap, the speaker the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spreadwatch.air.grades import GRADE_BOUNDS, GRADES_EN, GRADES_KO, grade
from spreadwatch.alerts import topics
from spreadwatch.alerts.notify import Alerter, Announcement, to_json

#: The grade from which a rise is announced (나쁨, bad).
ALERT_GRADE = 2
#: How far (ug/m3) below a grade's lower bound PM2.5 must fall before a new rise into that
#: grade is news again: hourly values hovering at a boundary (35.3, 34.8, 35.4) alert once.
FALL_MARGIN = 5.0
AIR_SEVERITY = {2: "WARNING", 3: "CRITICAL"}


@dataclass(frozen=True)
class AirStatus:
    """A region's fine dust at the latest hour, and the next 24 hours' peak."""

    region_code: str
    name_en: str
    name_ko: str
    ts: str  # the hour, UTC, ISO
    pm25: float
    grade: int
    peak_pm25: float | None = None
    peak_grade: int | None = None
    peak_hours_ahead: int | None = None

    def payload(self) -> dict:
        """The retained status message's body."""
        body = {
            "region_code": self.region_code,
            "name": {"en": self.name_en, "ko": self.name_ko},
            "ts": self.ts,
            "pm25": round(self.pm25, 1),
            "grade": self.grade,
            "grade_name": {"en": GRADES_EN[self.grade], "ko": GRADES_KO[self.grade]},
        }
        if self.peak_pm25 is not None and self.peak_grade is not None:
            body["next_24h"] = {
                "pm25_median": round(self.peak_pm25, 1),
                "grade": self.peak_grade,
                "hours_ahead": self.peak_hours_ahead,
            }
        return body


def read_air_statuses(folder: Path, names: pd.DataFrame) -> dict[str, AirStatus]:
    """Each region's :class:`AirStatus` from an ``air assess`` folder (``names``: code,
    name_en, name_ko). ValueError naming the file when it is not such a folder."""
    path = folder / "field.parquet"
    field = pq.read_table(path)
    missing = {"ts", "region_code", "pm25"} - set(field.column_names)
    if missing:
        raise ValueError(f"{path}: missing column {sorted(missing)[0]!r} (an air field table)")
    newest = pc.max(field["ts"])
    latest = field.filter(pc.equal(field["ts"], newest)).to_pandas()
    peaks = _forecast_peaks(folder / "forecast.parquet", pd.Timestamp(newest.as_py()))
    by_code = names.set_index("code")
    out = {}
    for row in latest.itertuples(index=False):
        code = str(row.region_code)
        peak = peaks.get(code)
        out[code] = AirStatus(
            code,
            str(by_code["name_en"].get(code, code)),
            str(by_code["name_ko"].get(code, code)),
            pd.Timestamp(row.ts).strftime("%Y-%m-%dT%H:%M:%SZ"),
            float(row.pm25),
            int(grade(float(row.pm25))),
            *(peak if peak is not None else (None, None, None)),
        )
    return out


def _forecast_peaks(path: Path, origin: pd.Timestamp) -> dict[str, tuple[float, int, int]]:
    """Per region, the highest median of the next 24 hours, its grade and hours ahead, of a
    forecast from ``origin`` (none from a forecast of another hour: another run's)."""
    if not path.exists():
        return {}
    frame = pq.read_table(path, columns=["origin", "region_code", "horizon", "median"])
    frame = frame.to_pandas()
    if frame.empty or pd.Timestamp(frame["origin"].iloc[0]) != origin:
        return {}
    top = frame.loc[frame.groupby("region_code")["median"].idxmax()]
    return {
        str(r.region_code): (float(r.median), int(grade(float(r.median))), int(r.horizon))
        for r in top.itertuples(index=False)
    }


def air_texts(status: AirStatus) -> dict[str, dict[str, str]]:
    """Title and body of a grade rise, in Korean and English."""
    en, ko = GRADES_EN[status.grade], GRADES_KO[status.grade]
    value = f"{status.pm25:.0f}"
    body_en = (
        f"Fine dust (PM2.5) in {status.name_en} is {en} at {value} micrograms per cubic metre. "
        "Turn your air purifier on and keep the windows closed; children, older people and "
        "anyone with heart or lung disease should stay indoors, and others wear a KF94 mask "
        "outside."
    )
    body_ko = (
        f"{status.name_ko}의 초미세먼지(PM2.5)가 {value}㎍/㎥로 '{ko}' 단계입니다. 공기청정기를 "
        "켜고 창문을 닫아 두세요. 어린이, 어르신, 심장·호흡기 질환이 있는 분은 실내에 머무르고, "
        "외출할 때는 KF94 마스크를 쓰세요."
    )
    if status.peak_pm25 is not None and status.peak_grade is not None:
        peak_en, peak_ko = GRADES_EN[status.peak_grade], GRADES_KO[status.peak_grade]
        body_en += (
            f" In the next 24 hours it is expected to peak at {status.peak_pm25:.0f} ({peak_en})."
        )
        body_ko += (
            f" 앞으로 24시간 중 가장 높을 때는 {status.peak_pm25:.0f}㎍/㎥('{peak_ko}')로 "
            "예상됩니다."
        )
    return {
        "title": {
            "en": f"Fine dust {en} in {status.name_en}",
            "ko": f"{status.name_ko} 초미세먼지 '{ko}'",
        },
        "body": {"en": body_en, "ko": body_ko},
    }


def air_announcement(status: AirStatus) -> Announcement:
    """The alert of a rise to :data:`ALERT_GRADE` or above."""
    texts = air_texts(status)
    air = {"region_code": status.region_code, "pm25": round(status.pm25, 1), "grade": status.grade}
    return Announcement(
        title=texts["title"],
        body=texts["body"],
        severity=AIR_SEVERITY.get(status.grade, "INFO"),
        thinq={"air": air, "recommend": {"purifier": "ON", "fanMode": "AUTO", "windows": "CLOSED"}},
        gigagenie={"air": air},
    )


def update_air(
    alerter: Alerter, statuses: dict[str, AirStatus], now: datetime | None = None
) -> int:
    """Publish each region's changed air status (retained, ``sw/status/{code}/air``) and alert
    its households when its grade rose to :data:`ALERT_GRADE` or above, above the grade last
    alerted; that grade is lowered only when PM2.5 falls :data:`FALL_MARGIN` below its lower
    bound (so a fall and a new rise are news, a value hovering at a boundary is not); returns
    alerts sent."""
    now = now or datetime.now(UTC)
    sent = 0
    for code, status in sorted(statuses.items()):
        before = alerter.air_announced.get(code, {})
        if (before.get("ts"), before.get("grade")) == (status.ts, status.grade):
            continue
        alerter.publish(topics.air_status(code), to_json(status.payload()), 1, True)
        alerted = int(before.get("alerted", 0))
        if alerted and status.pm25 < GRADE_BOUNDS[alerted - 1] - FALL_MARGIN:
            alerted = status.grade  # fallen clearly out of the alerted grade
        if status.grade >= ALERT_GRADE and status.grade > alerted:
            reached = alerter.alert_region(code, air_announcement(status), now)
            alerter.log("air_grade_rise", code, status.ts, status.grade, reached, now)
            sent += reached
            alerted = status.grade
        alerter.air_announced[code] = {"ts": status.ts, "grade": status.grade, "alerted": alerted}
    alerter.save_state()
    return sent
