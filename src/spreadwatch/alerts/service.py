"""``spreadwatch bridge run``: the bridge with its alerts and voice answers, from a store.

The store supplies the households (their region and platform), the reported cases and the
latest readings; a risk-levels file (``spreadwatch risk`` output) is watched and every change is
announced (see :mod:`spreadwatch.alerts.notify`). State lives in the bridge folder:
``alert_state.json`` and ``alert_log.jsonl``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from spreadwatch import duck, regions
from spreadwatch.alerts.bridge import Bridge
from spreadwatch.alerts.broker import BrokerConfig
from spreadwatch.alerts.notify import Alerter, latest_levels
from spreadwatch.alerts.voice import VoiceContext, handler
from spreadwatch.ingest.store import Store
from spreadwatch.privacy.pseudonym import KeyRing

log = logging.getLogger(__name__)
LEVELS_POLL_S = 2.0


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
    """A bridge, its voice context and its alerter, wired to a store and a levels file."""

    def __init__(
        self,
        folder: Path,
        store_path: Path,
        keyring: KeyRing,
        levels_file: Path | None = None,
        batch_messages: int = 5000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.config = BrokerConfig.load(folder)
        self.store = Store(store_path)
        homes = self.store.read("households")
        households = (
            homes.to_pandas()
            if homes is not None
            else pd.DataFrame(columns=["platform", "household_pseudo", "region_code"])
        )
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
        )
        self.bridge.stream.latest = self.context.latest
        self.alerter = Alerter(
            self.bridge.publish,
            households,
            folder / "alert_state.json",
            folder / "alert_log.jsonl",
        )
        self.levels_file = levels_file
        self._levels_seen: float | None = None
        self._next_poll = 0.0
        self.alerts_sent = 0

    def poll_levels(self) -> None:
        """Announce the levels file's changes (checked every couple of seconds)."""
        if self.levels_file is None or time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + LEVELS_POLL_S
        try:
            mtime = self.levels_file.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._levels_seen:
            return
        try:
            levels = pq.read_table(self.levels_file).to_pandas()
            statuses = latest_levels(levels, self.context.regions)
        except (OSError, ValueError) as exc:  # half-written or not a levels table: try later
            log.warning("%s: not read (%s)", self.levels_file, exc)
            return
        self._levels_seen = mtime
        self.context.levels = statuses
        self.alerts_sent += self.alerter.update(statuses)

    def run(self, should_stop: Callable[[], bool], on_ready: Callable[[], None] | None = None):
        """Serve until ``should_stop()``; ``on_ready()`` once the first subscriptions hold."""
        announced = False

        def tick() -> None:
            nonlocal announced
            if on_ready is not None and self.bridge.ready and not announced:
                announced = True
                on_ready()
            self.poll_levels()

        try:
            self.bridge.run(should_stop, tick=tick)
        finally:
            self.store.close()
