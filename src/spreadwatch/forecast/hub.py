"""Forecasts as a hubverse-style long table, with the 23 quantile levels of the Forecast Hubs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

#: The 23 quantile levels of the COVID-19 Forecast Hub.
QUANTILE_LEVELS = np.array(
    [0.01, 0.025, *np.round(np.arange(0.05, 0.951, 0.05), 2), 0.975, 0.99], dtype=np.float64
)
TOTAL = "total"

HUB_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("origin_date", pa.date32()),
        ("target", pa.string()),
        ("horizon", pa.int32()),
        ("target_end_date", pa.date32()),
        ("location", pa.string()),
        ("output_type", pa.string()),
        ("output_type_id", pa.float64()),
        ("value", pa.float64()),
    ]
)

#: Schema metadata keys of a forecast table.
DEFAULT_MODEL_KEY = b"spreadwatch.default_model"
NOTES_KEY = b"spreadwatch.notes"


def with_metadata(table: pa.Table, default_model: str, notes: list[str]) -> pa.Table:
    """``table`` naming its default model (the one a reader shows first) and the notes."""
    metadata = dict(table.schema.metadata or {})
    metadata[DEFAULT_MODEL_KEY] = default_model.encode()
    metadata[NOTES_KEY] = json.dumps(notes, ensure_ascii=False).encode()
    return table.replace_schema_metadata(metadata)


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A forecast table as a data frame whose ``attrs`` hold its default model and notes."""
    frame = table.to_pandas()
    metadata = table.schema.metadata or {}
    if DEFAULT_MODEL_KEY in metadata:
        frame.attrs["default_model"] = metadata[DEFAULT_MODEL_KEY].decode()
    if NOTES_KEY in metadata:
        frame.attrs["notes"] = json.loads(metadata[NOTES_KEY])
    return frame


def default_model(forecasts: pd.DataFrame, models: list[str] | None = None) -> str:
    """The model a reader shows first: the one the forecast table names (chosen by a
    backtest), else the ensemble, else the first."""
    models = models if models is not None else list(dict.fromkeys(forecasts["model"]))
    named = forecasts.attrs.get("default_model")
    if named in models:
        return named
    return "ensemble" if "ensemble" in models else models[0]
