"""Streamed telemetry: what the file ingest writes, exactly once, every message counted."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from spreadwatch.alerts.fleet import encode
from spreadwatch.ingest import Store
from spreadwatch.ingest.provision import household_topic_id
from spreadwatch.ingest.stream import (
    NOT_REGISTERED,
    OPTED_OUT,
    REUSED_ID,
    WRONG_HOUSEHOLD,
    TelemetryStream,
)
from spreadwatch.privacy.pseudonym import KeyRing
from tests.alerts.truth import file_ingested, telemetry_table

KEY = KeyRing(bytes(range(32)))


def _rows(n: int = 300) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        platform = "thinq" if i % 3 else "gigagenie"
        kind = {"thinq": ["pm25", "appliance_on", "body_temp"], "gigagenie": ["presence"]}[platform]
        kind = kind[i % len(kind)]
        value = {"pm25": f"{10 + i % 40}.5", "body_temp": f"36.{i % 10}"}.get(kind, str(i % 2))
        rows.append(
            {
                "platform": platform,
                "device_id": f"{platform[:2].upper()}D-{i % 17}-{kind}",
                "household_id": f"{platform[:2].upper()}H-{i % 17}",
                "ts": f"2020-03-{1 + i % 5:02d}T{i % 24:02d}:{i % 60:02d}:07Z",
                "kind": kind,
                "value": value,
                "consent": "false" if i % 17 == 4 else "true",
            }
        )
    return rows


def _stream_all(stream: TelemetryStream, rows, tokens=None) -> None:
    for n, row in enumerate(rows):
        topic = household_topic_id(KEY, row["platform"], row["household_id"])
        stream.add(topic, encode(row), n if tokens is None else tokens[n])


def test_stream_writes_what_the_file_ingest_writes(tmp_path):
    rows = _rows()
    expected = file_ingested(rows, tmp_path / "files", KEY)
    with Store(tmp_path / "stream") as store:
        stream = TelemetryStream(store, KEY)
        _stream_all(stream, rows[:150])
        first = stream.flush()
        _stream_all(stream, rows[150:])
        stream.flush()
        assert telemetry_table(store).equals(expected)
        opted_out = sum(r["consent"] == "false" for r in rows)
        assert stream.totals["opted_out"] == opted_out
        assert stream.totals["kept"] == len(rows) - opted_out
        assert first.tokens == list(range(150))
        (quality,) = store.quality().values()
        assert quality["rows_in"] == len(rows)
        assert quality["quarantined_by_reason"] == {OPTED_OUT: opted_out}


def test_redelivered_messages_change_nothing(tmp_path):
    rows = _rows(60)
    with Store(tmp_path / "s") as store:
        stream = TelemetryStream(store, KEY)
        _stream_all(stream, rows)
        _stream_all(stream, rows[:10])  # redelivered before the commit
        assert stream.flush().outcomes["redelivered"] == 10
        once = telemetry_table(store)
    with Store(tmp_path / "s") as store:  # a restarted bridge gets them all again
        stream = TelemetryStream(store, KEY)
        _stream_all(stream, rows)
        report = stream.flush()
        assert report.outcomes == {"redelivered": 60}
        assert len(report.tokens) == 60  # acknowledged all the same
        assert telemetry_table(store).equals(once)
        assert len(store.records("telemetry")) == 1


def test_a_batch_killed_before_its_commit_leaves_nothing(tmp_path, monkeypatch):
    rows = _rows(40)
    with Store(tmp_path / "s") as store:
        stream = TelemetryStream(store, KEY)
        _stream_all(stream, rows)

        def crash(*args, **kwargs):
            raise KeyboardInterrupt("killed between the parts and the commit")

        monkeypatch.setattr(store, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            stream.flush()
        assert store.parts("telemetry")  # the part was written...
    monkeypatch.undo()
    with Store(tmp_path / "s") as store:  # ...and is gone on reopening, never committed
        assert store.removed_leftovers == 1
        assert not store.parts("telemetry")
        stream = TelemetryStream(store, KEY)
        _stream_all(stream, rows)
        assert stream.flush().outcomes["kept"] == sum(r["consent"] == "true" for r in rows)


def test_malformed_and_misdirected_messages_are_quarantined_without_their_payload(tmp_path):
    row = _rows(3)[1]
    good = encode(row)
    bad = json.dumps({**json.loads(good), "timestamp": "soon"}).encode()
    with Store(tmp_path / "s") as store:
        stream = TelemetryStream(store, KEY, source="mqtt:test")
        topic = household_topic_id(KEY, row["platform"], row["household_id"])
        assert stream.add(topic, bad, 1) == "quarantined"
        assert stream.add(topic, bad, 2) == "redelivered"  # the same bytes again
        assert stream.add("someone-else", good, 3) == "quarantined"
        deep = ('{"a":' * 2000 + "1" + "}" * 2000).encode()  # a RecursionError in json
        assert stream.add(topic, deep, 4) == "quarantined"
        report = stream.flush()
        assert report.tokens == [1, 2, 3, 4]
        quarantine = pq.read_table(store.parts("telemetry", quarantine=True)).to_pylist()
    assert [(q["column"], q["reason"]) for q in quarantine] == [
        ("timestamp", "expected epoch milliseconds (an integer)"),
        ("household", WRONG_HOUSEHOLD),
        ("(message)", "expected JSON nested a few levels, not thousands"),
    ]
    assert quarantine[0]["source_file"] == f"mqtt:test:{topic}"
    text = json.dumps(quarantine)
    assert row["household_id"] not in text and row["device_id"] not in text


def test_rotated_pseudonyms_match_the_file_ingest(tmp_path):
    keyring = KeyRing(KEY.key, "week")
    rows = _rows(50)
    expected = file_ingested(rows, tmp_path / "files", keyring)
    with Store(tmp_path / "stream") as store:
        stream = TelemetryStream(store, keyring)
        _stream_all(stream, rows)
        stream.flush()
        assert telemetry_table(store).equals(expected)


def test_a_household_without_consent_on_record_keeps_nothing_whatever_its_message_says(tmp_path):
    """The registry (the store's consenting households) decides, not the message's flag."""
    rows = [r for r in _rows(40) if r["consent"] == "true"][:2]
    topics = [household_topic_id(KEY, r["platform"], r["household_id"]) for r in rows]
    with Store(tmp_path / "s") as store:
        stream = TelemetryStream(store, KEY, registry=frozenset(topics[:1]))
        assert stream.add(topics[0], encode(rows[0]), 1) == "kept"
        assert stream.add(topics[1], encode(rows[1]), 2) == "opted_out"
        report = stream.flush()
        assert report.reasons[NOT_REGISTERED] == 1
        kept = store.read("telemetry")
    assert set(kept["household_pseudo"].to_pylist()) == {topics[0]}


def test_a_reused_message_id_with_other_content_is_a_conflict_not_a_redelivery(tmp_path):
    """The same bytes again are a redelivery (nothing changes); the same message id with
    other content is quarantined, in the session and after a restart."""
    row = next(r for r in _rows(40) if r["consent"] == "true")
    topic = household_topic_id(KEY, row["platform"], row["household_id"])
    first = encode(row)
    message = json.loads(first)
    other = {**row, "value": str(float(row["value"]) + 1)}
    changed = json.loads(encode(other))
    for key in ("messageId", "msg_id"):  # keep the first message's id
        if key in message:
            changed[key] = message[key]
    changed = json.dumps(changed).encode()
    with Store(tmp_path / "s") as store:
        stream = TelemetryStream(store, KEY)
        assert stream.add(topic, first, 1) == "kept"
        assert stream.add(topic, first, 2) == "redelivered"
        assert stream.add(topic, changed, 3) == "quarantined"
        stream.flush()
    with Store(tmp_path / "s") as store:  # after a restart, from the committed keys
        again = TelemetryStream(store, KEY)
        assert again.add(topic, first, 4) == "redelivered"
        assert again.add(topic, changed, 5) == "redelivered"  # that conflict, again
        again.flush()
        reasons = [r["reason"] for r in store.read("telemetry", quarantine=True).to_pylist()]
    assert reasons == [REUSED_ID]  # committed once, not lost, not doubled
