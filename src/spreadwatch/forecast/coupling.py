"""How regions pass infection to each other: neighbourhood orders and the weights built on them.

``weights[j, i]`` is the share of region ``j``'s infectious pressure that reaches region ``i``;
every row with any coupling sums to 1 and the diagonal is zero (as ``W_powerlaw(normalize =
TRUE)`` in R's surveillance package).
"""

from __future__ import annotations

import numpy as np

#: Order of two regions that no chain of neighbours connects.
UNREACHABLE = np.iinfo(np.int32).max


def normalised(matrix: np.ndarray) -> np.ndarray | None:
    """Rows scaled to sum to 1, diagonal removed; ``None`` when nothing couples regions."""
    matrix = np.array(matrix, dtype=np.float64)
    np.fill_diagonal(matrix, 0.0)
    rows = matrix.sum(axis=1, keepdims=True)
    if not (rows > 0).any():
        return None
    return np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)


def neighbour_orders(adjacent: np.ndarray) -> np.ndarray:
    """Orders of neighbourhood from a first-order adjacency matrix: 0 on the diagonal, 1 for
    neighbours, ``k`` for regions ``k`` borders apart (breadth-first, as ``nbOrder``);
    :data:`UNREACHABLE` where no path exists."""
    adjacent = np.asarray(adjacent, dtype=bool)
    n = adjacent.shape[0]
    orders = np.full((n, n), UNREACHABLE, dtype=np.int64)
    np.fill_diagonal(orders, 0)
    frontier = np.eye(n, dtype=bool)
    reached = frontier.copy()
    step = 0
    while frontier.any():
        step += 1
        frontier = (frontier.astype(np.int32) @ adjacent.astype(np.int32) > 0) & ~reached
        orders[frontier] = step
        reached |= frontier
    return orders


def power_law(orders: np.ndarray, decay: float, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``o^-d`` for orders ``1 <= o <= max_lag`` (0 beyond), rows normalised, and their
    derivative with respect to ``log d`` (as R's ``W_powerlaw(maxlag, normalize = TRUE)``)."""
    inside = (orders >= 1) & (orders <= max_lag)
    log_order = np.log(np.where(inside, orders, 1).astype(np.float64))
    raw = np.where(inside, np.exp(-decay * log_order), 0.0)
    rows = raw.sum(axis=1, keepdims=True)
    weights = np.divide(raw, rows, out=np.zeros_like(raw), where=rows > 0)
    mean_log = (weights * log_order).sum(axis=1, keepdims=True)
    derivative = weights * (mean_log - log_order) * decay  # d w / d log d
    return weights, derivative
