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


@dataclass(frozen=True)
class Target:
    """A parser, what it is fed, and the errors it may raise."""

    run: Callable[[object], None]
    inputs: st.SearchStrategy
    allowed: tuple[type[BaseException], ...]


def _targets() -> dict[str, Target]:
    from spreadwatch.ingest.platforms import PayloadError

    return {
        "platform message": Target(_decode, PAYLOADS, (PayloadError,)),
        "voice request": Target(_voice, PAYLOADS, (ValueError,)),
        "run config": Target(_config, CONFIGS, (ConfigError,)),
        "cases file": Target(_cases_file, CASE_ROWS, ()),
        "cases ingest": Target(_ingest_cases, CASE_ROWS, ()),
    }


TARGETS = _targets()
