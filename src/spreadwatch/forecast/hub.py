"""Forecasts as a hubverse-style long table, with the 23 quantile levels of the Forecast Hubs."""

from __future__ import annotations

import numpy as np
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
