"""Streamed platform messages into a store, in batches that survive a crash.

:class:`TelemetryStream` takes each message with the household topic it arrived on, decodes it
(:mod:`spreadwatch.ingest.platforms`) and sorts it into one of:

- ``kept``: its readings are pseudonymised and written to the store's ``telemetry`` source;
- ``opted_out``: the household has not consented: dropped at the bridge, nothing kept;
- ``quarantined``: malformed, or its household is not the topic's: a quarantine row with the
  reason and the field (the payload itself is withheld: it holds raw IDs);
- ``redelivered``: a message id already committed (an MQTT redelivery): nothing changes.

:meth:`TelemetryStream.flush` writes a batch's parts, then commits the batch and its message keys
in one manifest transaction; only then may the caller acknowledge the messages to the broker.
A crash before the commit leaves parts the store removes when opened again, and the broker
redelivers the unacknowledged messages: no loss, no duplicates.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import pyarrow as pa

from spreadwatch.ingest.platforms import Message, PayloadError, decode
from spreadwatch.ingest.provision import household_topic_id
from spreadwatch.ingest.raw import QUARANTINE_SCHEMA
from spreadwatch.ingest.sources import TELEMETRY
from spreadwatch.ingest.store import FileRecord, Store
from spreadwatch.privacy.pseudonym import KeyRing

Token = TypeVar("Token")
OPTED_OUT = "household has not consented: dropped at the bridge"
NOT_REGISTERED = "household has no consent on record (not in the store's registry): dropped"
WRONG_HOUSEHOLD = "the message's household is not the topic's household"
REUSED_ID = "message id already used for other content: not a redelivery"
_PSEUDONYM_CACHE = 200_000


@dataclass
class BatchReport(Generic[Token]):
    """What one flush committed, and the tokens (broker message ids) now safe to acknowledge."""

    tokens: list[Token] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    readings: int = 0
    readings_repeated: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class _Pending:
    rows: dict[str, list] = field(
        default_factory=lambda: {name: [] for name in TELEMETRY.schema.names}
    )
    seen_rows: set[tuple] = field(default_factory=set)
    keys: dict[str, str | None] = field(default_factory=dict)  # key -> content digest
    quarantine: list[dict] = field(default_factory=list)
    report: BatchReport = field(default_factory=BatchReport)
    payload_bytes: int = 0

    @property
    def messages(self) -> int:
        return self.report.outcomes.total()


class TelemetryStream(Generic[Token]):
    """Batches of messages from ``source`` (a label such as ``mqtt:host:port``) into ``store``."""

    def __init__(
        self,
        store: Store,
        keyring: KeyRing,
        source: str = "mqtt",
        registry: frozenset[str] | None = None,
    ) -> None:
        """``registry``: the household pseudonyms whose consent is on record (the store's
        ``households``, which keeps consenting households only); when given, a message of any
        other household is dropped whatever its own consent flag says."""
        self.store = store
        self.registry = registry
        self.keyring = keyring
        self.source = source
        #: committed message keys -> the digest of the content committed under them (``None``
        #: for keys a store recorded without one)
        self.committed: dict[str, str | None] = {}
        for key in store.message_keys():
            name, _, content = key.partition("#")
            self.committed[name] = content or None
        self.totals: Counter[str] = Counter()
        self._pending = _Pending()
        self._pseudonyms: dict[tuple[str, str, str | None], str] = {}
        #: when set, ``(household_pseudo, kind) -> (ts, value)`` of the latest kept readings
        self.latest: dict[tuple[str, str], tuple[datetime, float]] | None = None

    def __len__(self) -> int:
        """Messages waiting for the next flush."""
        return self._pending.messages

    def add(self, household_topic: str, payload: bytes, token: Token) -> str:
        """Take one message that arrived on household ``household_topic``'s telemetry topic;
        returns its outcome (kept, opted_out, quarantined, redelivered)."""
        pending = self._pending
        pending.report.tokens.append(token)
        pending.payload_bytes += len(payload)
        try:
            message = decode(payload)
        except PayloadError as exc:  # a repeat of the same bytes is a redelivery too
            if not self._claim("payload:" + hashlib.sha256(payload).hexdigest()[:24]):
                return self._count("redelivered")
            return self._quarantine(household_topic, exc.field, exc.expected)
        digest = hashlib.sha256(payload).hexdigest()
        claimed = self._claim(message_key(message), digest[:16])
        if claimed is None:  # recorded under a key of its own bytes: committed, not lost
            if not self._claim("conflict:" + digest[:24]):
                return self._count("redelivered")
            return self._quarantine(household_topic, "messageId", REUSED_ID)
        if not claimed:
            return self._count("redelivered")
        if household_topic_id(self.keyring, message.platform, message.household_id) != (
            household_topic
        ):
            return self._quarantine(household_topic, "household", WRONG_HOUSEHOLD)
        if not message.consent:
            pending.report.reasons[OPTED_OUT] += 1
            return self._count("opted_out")
        if self.registry is not None and household_topic not in self.registry:
            pending.report.reasons[NOT_REGISTERED] += 1
            return self._count("opted_out")
        self._add_readings(message)
        return self._count("kept")

    def forget_tokens(self) -> None:
        """Drop the pending messages' tokens (their broker session is gone: never acknowledge)."""
        self._pending.report.tokens.clear()

    def flush(self) -> BatchReport[Token]:
        """Write and commit the pending batch; returns what it held."""
        pending, self._pending = self._pending, _Pending()
        report = pending.report
        if not pending.keys:
            return report  # only redeliveries (or nothing): nothing to write
        sha = hashlib.sha256("\n".join(pending.keys).encode()).hexdigest()  # keys never repeat
        out = report.outcomes
        record = FileRecord(
            TELEMETRY.name,
            sha,
            f"{self.source}#{sha[:16]}",
            pending.payload_bytes,
            rows_in=out.total(),
            rows_kept=out["kept"],
            rows_quarantined=out["quarantined"] + out["opted_out"],
            duplicates_removed=out["redelivered"],
            quarantined_by_reason=Counter(report.reasons),
        )
        if pending.rows["ts"]:
            table = pa.table(pending.rows, schema=TELEMETRY.schema).sort_by(
                [("ts", "ascending"), ("device_pseudo", "ascending"), ("kind", "ascending")]
            )
            self.store.write_part(table, self.store.part_path(TELEMETRY.name, sha, 0))
            record.parts = 1
        if pending.quarantine:
            table = pa.Table.from_pylist(pending.quarantine, QUARANTINE_SCHEMA)
            path = self.store.part_path(TELEMETRY.name, sha, 0, quarantine=True)
            self.store.write_part(table, path)
            record.parts = 1
        self.store.commit(record, [f"{k}#{v}" if v else k for k, v in pending.keys.items()])
        self.committed.update(pending.keys)
        self.totals.update(out)
        self.totals["readings"] += report.readings
        return report

    # --- internals ------------------------------------------------------------------------------

    def _claim(self, key: str, content: str | None = None) -> bool | None:
        """Take ``key`` (with the digest of its ``content``) into the pending batch; false when
        it was seen before with the same content (a redelivery), ``None`` when with other
        content (a reused message id: a conflict)."""
        for seen in (self.committed, self._pending.keys):
            if key in seen:
                earlier = seen[key]
                return False if earlier is None or content is None or earlier == content else None
        self._pending.keys[key] = content
        return True

    def _count(self, outcome: str) -> str:
        self._pending.report.outcomes[outcome] += 1
        return outcome

    def _quarantine(self, household_topic: str, column: str, reason: str) -> str:
        self._pending.quarantine.append(
            {
                "source_file": f"{self.source}:{household_topic}",
                "row_number": self._pending.messages + 1,
                "column": column,
                "reason": reason,
                "raw_row": None,
            }
        )
        self._pending.report.reasons[reason] += 1
        return self._count("quarantined")

    def _add_readings(self, message: Message) -> None:
        pending = self._pending
        rows = pending.rows
        for reading in message.readings:
            device = self._pseudonym(message.platform, reading.device_id, reading.ts)
            row_key = (message.platform, device, reading.ts, reading.kind)
            if row_key in pending.seen_rows:
                pending.report.readings_repeated += 1
                continue
            pending.seen_rows.add(row_key)
            rows["platform"].append(message.platform)
            rows["device_pseudo"].append(device)
            household = self._pseudonym(message.platform, message.household_id, reading.ts)
            rows["household_pseudo"].append(household)
            if self.latest is not None:
                seen = self.latest.get((household, reading.kind))
                if seen is None or seen[0] <= reading.ts:
                    self.latest[household, reading.kind] = (reading.ts, reading.value)
            rows["ts"].append(reading.ts)
            rows["kind"].append(reading.kind)
            rows["value"].append(reading.value)
            pending.report.readings += 1

    def _pseudonym(self, platform: str, identifier: str, ts: datetime) -> str:
        period = self.keyring.period_label(ts)
        cached = self._pseudonyms.get((platform, identifier, period))
        if cached is None:
            if len(self._pseudonyms) > _PSEUDONYM_CACHE:
                self._pseudonyms.clear()
            cached = self.keyring.pseudonym_of(platform, identifier, ts)
            self._pseudonyms[platform, identifier, period] = cached
        return cached


def message_key(message: Message) -> str:
    """A message's idempotency key: a digest of its platform and message id."""
    text = f"{message.platform}:{message.message_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
