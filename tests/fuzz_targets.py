"""Every parser that takes outside input, with the inputs hypothesis makes for it and the only
errors it may raise (a clear, named error; never a crash). ``tests/test_fuzz.py`` runs them in
the suite; ``benchmarks/bench_fuzz.py`` runs them longer and reports the count.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from spreadwatch.configfile import ConfigError

#: JSON-like values, nested up to a few levels, with the platforms' own keys among the names.
KEYS = st.sampled_from(
    ["messageId", "homeId", "deviceId", "deviceType", "timestamp", "state", "consent",
     "dataSharing", "msg_id", "household", "payload", "agree_yn", "utterance", "lang", "value",
     "unit", "pm25", "bodyTemperature", "hh_id", "dev_id", "ts"]
) | st.text(max_size=8)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=20,
)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


PAYLOADS = (
    st.binary(max_size=300)
    | JSONISH.map(_json_bytes)
    | st.integers(1, 3000).map(lambda depth: ('{"a":' * depth + "1" + "}" * depth).encode())
)


def _decode(payload: bytes) -> None:
    from spreadwatch.ingest.platforms import decode

    decode(payload)


def _voice(payload: bytes) -> None:
    from spreadwatch.alerts.voice import parse_request

    parse_request(payload)


def _config(data: object) -> None:
    from spreadwatch.model.config import config_from_mapping

    config_from_mapping(data if isinstance(data, dict) else {"run": data}, Path("."), "fuzz")


def _config_file(value: tuple[str, bytes]) -> None:
    """A run config file of any bytes, as TOML, JSON or YAML."""
    from spreadwatch.model import load_config

    suffix, payload = value
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"run{suffix}"
        path.write_bytes(payload)
        load_config(path)


CONFIG_FILES = st.tuples(st.sampled_from([".toml", ".json", ".yaml"]), PAYLOADS)

CONFIGS = st.dictionaries(
    st.sampled_from(["run", "disease", "regions", "mobility", "seed", "intervention",
                     "scenario", "calibration", "output", "age"]),
    JSONISH,
    max_size=5,
)  # fmt: skip

CSV_CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
CASE_ROWS = st.lists(st.tuples(CSV_CELLS, CSV_CELLS, CSV_CELLS), max_size=6)


def _cases_file(rows: list[tuple[str, str, str]]) -> None:
    from spreadwatch.infer import CasesError, read_cases

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cases.csv"
        lines = ["region_code,date,confirmed", *(",".join(r) for r in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with contextlib.suppress(CasesError):
            read_cases(path)


def _ingest_cases(rows: list[tuple[str, str, str]]) -> None:
    """A cases CSV of anything: ingest keeps, quarantines or refuses it, and every row is
    accounted for."""
    from spreadwatch.ingest import RawFileError, Store, ingest
    from spreadwatch.privacy.pseudonym import KeyRing

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cases.csv"
        lines = ["region_code,date,confirmed", *(",".join(r) for r in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with Store(Path(folder) / "store") as store:
            try:
                report = ingest("cases", [path], store, KeyRing(bytes(32)))
            except RawFileError:
                return
            for record in report.ingested:
                assert record.balanced(), record


#: Cells of any delivered file: plausible values of every column, and anything at all (commas,
#: quotes, newlines' neighbours, non-Latin text).
FILE_CELLS = (
    st.sampled_from(
        ["SKT", "KT", "LGU", "smartthings", "thinq", "S1", "S2", "skt:1", "2020-02-01T01:00:00Z",
         "2020-02-01", "1920-01-01T00:00:00Z", "37.5", "126.9", "36.8", "-500", "pm25",
         "body_temp", "true", "false", "KOR", "USA", "arrival", "in", "11010", "3", ""]
    )
    | st.text(alphabet=st.sampled_from(list('ab1:,"\' -.T\t')), max_size=10)
    | CSV_CELLS
)  # fmt: skip
CELLS_FILE = "carrier,cell_id,lat,lon\nSKT,S1,37.5663,126.9779\nSKT,S2,35.1587,129.1604\n"


def _source_rows() -> st.SearchStrategy:
    from spreadwatch.ingest.sources import SOURCES

    return st.sampled_from(sorted(SOURCES)).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.lists(
                st.lists(FILE_CELLS, min_size=len(SOURCES[name].columns),
                         max_size=len(SOURCES[name].columns)),
                max_size=6,
            ),
        )
    )  # fmt: skip


PARQUET_VALUES = {
    "string": FILE_CELLS,
    "int64": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "float64": st.floats(allow_nan=True, allow_infinity=True),
    "timestamp": st.datetimes(),
    "bool": st.booleans(),
}


def _parquet_columns() -> st.SearchStrategy:
    """A source, and for each of its columns a type and up to 6 values (None among them)."""
    from spreadwatch.ingest.sources import SOURCES

    def table(name: str) -> st.SearchStrategy:
        width = len(SOURCES[name].columns)
        return st.integers(min_value=0, max_value=6).flatmap(
            lambda rows: st.tuples(
                st.just(name),
                st.lists(
                    st.sampled_from(sorted(PARQUET_VALUES)).flatmap(
                        lambda kind: st.tuples(
                            st.just(kind),
                            st.lists(st.none() | PARQUET_VALUES[kind], min_size=rows,
                                     max_size=rows),
                        )
                    ),
                    min_size=width,
                    max_size=width,
                ),
            )
        )  # fmt: skip

    return st.sampled_from(sorted(SOURCES)).flatmap(table)


def _ingest_parquet(value: tuple[str, list[tuple[str, list]]]) -> None:
    """A Parquet file of any source with columns of any type and value: every row is kept or
    quarantined with a reason."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spreadwatch.ingest.sources import SOURCES

    name, columns = value
    kinds = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "timestamp": pa.timestamp("us"), "bool": pa.bool_()}  # fmt: skip
    table = pa.table(
        {
            column: pa.array(values, kinds[kind])
            for column, (kind, values) in zip(SOURCES[name].columns, columns, strict=True)
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.parquet"
        pq.write_table(table, path)
        with _store_for(name, Path(folder)) as store:
            record = _ingested(name, path, store)
            assert record is None or record.rows_in == table.num_rows, record


@contextlib.contextmanager
def _store_for(name: str, folder: Path):
    """A new store below ``folder``, with the cells location events need."""
    from spreadwatch.ingest import Store, ingest
    from spreadwatch.privacy.pseudonym import KeyRing

    with Store(folder / "store") as store:
        if name == "location":
            cells = folder / "cells.csv"
            cells.write_text(CELLS_FILE)
            ingest("cells", [cells], store, KeyRing(bytes(32)))
        yield store


def _ingested(name: str, path: Path, store, fast: bool = True):
    """The ingest record of ``path``, every row accounted for; ``None`` when the file is
    refused as a whole (a named error)."""
    from spreadwatch.ingest import RawFileError, ingest
    from spreadwatch.privacy.pseudonym import KeyRing

    try:
        report = ingest(name, [path], store, KeyRing(bytes(32)), fast_path=fast)
    except RawFileError:
        return None
    (record,) = report.ingested
    assert record.balanced(), record
    return record


def _bridge_config(payload: bytes) -> None:
    """The bridge's own configuration file, as anything at all."""
    from spreadwatch.alerts.broker import BrokerConfig

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "secrets").mkdir()
        (Path(folder) / "secrets" / "bridge.json").write_bytes(payload)
        BrokerConfig.load(Path(folder))


def _line(cells: list[str]) -> str:
    """A CSV line as a careless exporter writes it: commas between the cells, no quoting."""
    return ",".join(c.replace("\n", " ").replace("\r", " ") for c in cells)


def _ingest_any_source(value: tuple[str, list[list[str]]]) -> None:
    """A file of any source holding anything: every row is kept or quarantined with a reason,
    no raw identifier reaches the quarantine, and location events come out the same from the
    fast path and the SQL path."""
    from spreadwatch.ingest.sources import SOURCES

    name, rows = value
    spec = SOURCES[name]
    results = []
    for fast in (True, False) if name == "location" else (True,):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{name}.csv"
            lines = [",".join(spec.columns), *(_line(r) for r in rows)]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            with _store_for(name, Path(folder)) as store:
                if _ingested(name, path, store, fast) is None:
                    return
                quarantine = store.read(name, quarantine=True)
                kept = store.read(name)
                if quarantine is not None:
                    _no_raw_identifier(spec, rows, quarantine)
                results.append(
                    (
                        None if kept is None else kept.num_rows,
                        None if quarantine is None
                        else sorted(zip(quarantine["row_number"].to_pylist(),
                                        quarantine["reason"].to_pylist(), strict=True)),
                    )
                )  # fmt: skip
    assert all(r == results[0] for r in results), results


def _no_raw_identifier(spec, rows: list[list[str]], quarantine) -> None:
    """A quarantined row keeps its identifier columns pseudonymised or withheld, never raw
    (and a file with identifiers never keeps a raw line)."""
    if not spec.identifiers:
        return
    for entry in quarantine.to_pylist():
        if entry["raw_row"] is None or entry["row_number"] - 2 >= len(rows):
            continue
        kept = json.loads(entry["raw_row"])
        row = rows[entry["row_number"] - 2]
        for column in spec.identifiers:
            raw = row[spec.columns.index(column)].strip()
            assert not raw or kept.get(column) != raw, (spec.name, column, raw)


@dataclass(frozen=True)
class Target:
    """A parser, what it is fed, and the errors it may raise."""

    run: Callable[[object], None]
    inputs: st.SearchStrategy
    allowed: tuple[type[BaseException], ...]


def _targets() -> dict[str, Target]:
    from spreadwatch.alerts.broker import BrokerError
    from spreadwatch.ingest.platforms import PayloadError

    return {
        "platform message": Target(_decode, PAYLOADS, (PayloadError,)),
        "voice request": Target(_voice, PAYLOADS, (ValueError,)),
        "run config": Target(_config, CONFIGS, (ConfigError,)),
        "run config file": Target(_config_file, CONFIG_FILES, (ConfigError,)),
        "cases file": Target(_cases_file, CASE_ROWS, ()),
        "cases ingest": Target(_ingest_cases, CASE_ROWS, ()),
        "file ingest": Target(_ingest_any_source, _source_rows(), ()),
        "parquet ingest": Target(_ingest_parquet, _parquet_columns(), ()),
        "bridge config": Target(_bridge_config, PAYLOADS, (BrokerError,)),
    }


TARGETS = _targets()
