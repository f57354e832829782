"""k-anonymity suppression of small counts."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

#: Default minimum count released for any OD or presence cell.
DEFAULT_K = 15


def suppress_small(table: ir.Table, count_column: str, k: int) -> ir.Table:
    """Mark rows whose count is below ``k`` as suppressed and zero their count.

    The row stays (so a reader knows the cell exists but is withheld); its count becomes 0.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    count = table[count_column]
    small = count < k
    return table.mutate(
        **{count_column: ibis.ifelse(small, ibis.literal(0, type="int64"), count.cast("int64"))},
        suppressed=small,
    )
