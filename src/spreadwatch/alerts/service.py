"""``spreadwatch bridge run``: the bridge with its alerts and voice answers, from a store.

The store supplies the households (their region and platform), their members' subscriptions
(``household_members``, for traveler notices), the reported cases and the latest readings. A
risk-levels file (``spreadwatch risk`` output), a notices file (``spreadwatch notices``) and an
air folder (``spreadwatch air assess`` output) are watched and every change is announced (see
:mod:`spreadwatch.alerts.notify` and :mod:`spreadwatch.alerts.air`). State lives in the bridge
folder: ``alert_state.json``, ``alert_log.jsonl`` and ``outbox.sqlite`` (messages not
acknowledged by the broker yet, sent again when the bridge starts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import pandas as pd
import pyarrow.parquet as pq

from spreadwatch import duck, regions
from spreadwatch.alerts.air import AirStatus, read_air_statuses, update_air
from spreadwatch.alerts.bridge import Bridge
from spreadwatch.alerts.broker import BrokerConfig
from spreadwatch.alerts.notify import (
    HOUSEHOLD_COLUMNS,
    MEMBER_COLUMNS,
    NOTICE_COLUMNS,
    Alerter,
    NoticeReport,
    RegionStatus,
    latest_levels,
    require_columns,
)
from spreadwatch.alerts.outbox import Outbox
from spreadwatch.alerts.voice import VoiceContext, handler
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing
from spreadwatch.risk.notices import notice_window

log = logging.getLogger(__name__)
#: How often the watched files' modification times are checked, seconds.
LEVELS_POLL_S = 2.0
OUTBOX_FILE = "outbox.sqlite"
#: The look-back window of a notices file that does not say (``spreadwatch notices`` default).
DEFAULT_NOTICE_DAYS = 14
T = TypeVar("T")


class WatchedFile(Generic[T]):
    """A file polled for changes: :meth:`poll` returns what ``read`` makes of it when its
    modification time changed since it was last read. A file that cannot be read (missing,
    half-written, not the expected table) is logged, once per distinct error, and tried again
    at the next poll: it never stops the bridge."""

    def __init__(self, path: Path, read: Callable[[Path], T], every_s: float = LEVELS_POLL_S):
        self.path = path
        self.read = read
        self.every_s = every_s
        self._seen: float | None = None
        self._next = 0.0
        self._error: str | None = None

    def poll(self) -> T | None:
        """The file's new content, or ``None`` (not due, unchanged or unreadable)."""
        if time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.every_s
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime == self._seen:
            return None
        try:
            content = self.read(self.path)
        except (OSError, ValueError) as exc:  # e.g. half-written: try again at the next poll
            error = str(exc) if str(self.path) in str(exc) else f"{self.path}: {exc}"
            if error != self._error:
                log.warning("not read, trying again: %s", error)
                self._error = error
            return None
        self._seen, self._error = mtime, None
        return content


def read_notices(path: Path, days: int | None = None) -> tuple[pd.DataFrame, int]:
    """A notices file (the Parquet of ``spreadwatch notices``) and its look-back window: the
    one the file states, else ``days``, else :data:`DEFAULT_NOTICE_DAYS`. ValueError naming the
    file and a missing column or a value that is not a time."""
    table = pq.read_table(path)
    what = f"{path} (a `spreadwatch notices` table)"
    frame = table.to_pandas()
    require_columns(frame, NOTICE_COLUMNS, what)
    try:
        frame["last_there"] = pd.to_datetime(frame["last_there"], utc=True)
        frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: last_there and as_of must be times ({exc})") from None
    for column in ("carrier", "subscriber_pseudo", "country"):
        frame[column] = frame[column].astype(str)
    stated = notice_window(table.schema)
    if stated is not None and days is not None and stated != days:
        log.warning("%s: made with --days %d, not %d: announcing %d", path, stated, days, stated)
    return frame, stated or days or DEFAULT_NOTICE_DAYS


def _store_table(store: Store, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """A store table as a data frame, empty with ``columns`` when nothing is ingested."""
    table = store.read(name)
    return table.to_pandas() if table is not None else pd.DataFrame(columns=list(columns))


def latest_readings(store: Store) -> dict:
    """``(household, kind) -> (time, value)`` of the latest reading per household and kind."""
    parts = store.parts("telemetry")
    if not parts:
        return {}
    con = duck.connect()
    table = con.sql(
        "SELECT household_pseudo, kind, max(ts) AS ts, arg_max(value, ts) AS value "
        f"FROM read_parquet({duck.path_list(parts)}) GROUP BY ALL"
    ).to_arrow_table()
    con.close()
    rows = table.to_pylist()
    return {(r["household_pseudo"], r["kind"]): (r["ts"], r["value"]) for r in rows}


class BridgeService:
    """A bridge, its voice context and its alerter, wired to a store and the watched levels and
    notices files (``notice_days``: the window of a notices file that does not state it)."""

    def __init__(
        self,
        folder: Path,
        store_path: Path,
        keyring: KeyRing,
        levels_file: Path | None = None,
        batch_messages: int = 5000,
        flush_seconds: float = 1.0,
        notices_file: Path | None = None,
        notice_days: int | None = None,
        air_dir: Path | None = None,
    ) -> None:
        self.config = BrokerConfig.load(folder)
        self.store = Store(store_path)
        households = _store_table(self.store, "households", HOUSEHOLD_COLUMNS)
        members = _store_table(self.store, "household_members", MEMBER_COLUMNS)
        cases = self.store.read("cases")
        self.context = VoiceContext(
            regions=regions.load("sigungu").regions[
                ["code", "name_en", "name_ko", "sido_name_en", "sido_name_ko"]
            ],
            household_region=dict(
                zip(households["household_pseudo"], households["region_code"], strict=True)
            ),
            cases=cases.to_pandas() if cases is not None else None,
            latest=latest_readings(self.store),
        )
        self.bridge = Bridge(
            self.config,
            self.store,
            keyring,
            batch_messages=batch_messages,
            flush_seconds=flush_seconds,
            voice=handler(self.context),
            outbox=Outbox(folder / OUTBOX_FILE),
        )
        self.bridge.stream.latest = self.context.latest
        self.alerter = Alerter(
            self.bridge.publish,
            households,
            folder / "alert_state.json",
            folder / "alert_log.jsonl",
            members,
        )
        self.levels: WatchedFile[dict[str, RegionStatus]] | None = (
            WatchedFile(levels_file, self._read_levels) if levels_file is not None else None
        )
        self.notices: WatchedFile[tuple[pd.DataFrame, int]] | None = (
            WatchedFile(notices_file, lambda path: read_notices(path, notice_days))
            if notices_file is not None
            else None
        )
        self.air: WatchedFile[dict[str, AirStatus]] | None = (
            WatchedFile(  # air.json is written last: the run's tables are in place
                air_dir / "air.json",
                lambda path: read_air_statuses(path.parent, self.context.regions),
            )
            if air_dir is not None
            else None
        )
        self.alerts_sent = 0
        self.air_alerts_sent = 0
        self.notices_sent = 0
        #: what the latest notices file did (``None`` before one was read)
        self.last_notices: NoticeReport | None = None

    def _read_levels(self, path: Path) -> dict[str, RegionStatus]:
        return latest_levels(pq.read_table(path).to_pandas(), self.context.regions)

    def poll_levels(self) -> None:
        """Announce the levels file's changes (checked every couple of seconds)."""
        statuses = self.levels.poll() if self.levels is not None else None
        if statuses is not None:
            self.context.levels = statuses
            self.alerts_sent += self.alerter.update(statuses)

    def poll_air(self) -> None:
        """Announce the air folder's changes: statuses retained, alerts on grade rises."""
        statuses = self.air.poll() if self.air is not None else None
        if statuses is not None:
            self.context.air = statuses
            self.air_alerts_sent += update_air(self.alerter, statuses)

    def poll_notices(self) -> None:
        """Send the notices file's new traveler notices (checked every couple of seconds)."""
        read = self.notices.poll() if self.notices is not None else None
        if read is None:
            return
        report = self.alerter.update_notices(*read)
        self.notices_sent += report.sent
        self.last_notices = report
        log.info(
            "%s: %d traveler notices sent to %d households; %d households not in the "
            "households table; %d notices no longer listed",
            self.notices.path, report.sent, report.households, report.unreachable,
            report.forgotten,
        )  # fmt: skip

    def run(self, should_stop: Callable[[], bool], on_ready: Callable[[], None] | None = None):
        """Serve until ``should_stop()``; ``on_ready()`` once the first subscriptions hold."""
        announced = False

        def tick() -> None:
            nonlocal announced
            if on_ready is not None and self.bridge.ready and not announced:
                announced = True
                on_ready()
            self.poll_levels()
            self.poll_notices()
            self.poll_air()

        try:
            self.bridge.run(should_stop, tick=tick)
        finally:
            self.store.close()
            if self.bridge.outbox is not None:
                self.bridge.outbox.close()
