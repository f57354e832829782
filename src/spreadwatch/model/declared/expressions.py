"""Rates written as arithmetic over a model's parameters, e.g. ``"(1 - efficacy) * beta"``.

Only numbers, parameter names, ``+ - * / **`` and parentheses are allowed: the text is parsed
once into a Python syntax tree and checked node by node, never run by ``eval``. Parameters are
arrays (by age band and region), so a rate is evaluated with NumPy's broadcasting.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_BINARY: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[np.ndarray], np.ndarray]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


@dataclass(frozen=True)
class Expression:
    """A checked rate expression: its text, syntax tree and the parameters it names."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, np.ndarray | float]) -> np.ndarray:
        """The expression's value with each name replaced by ``values[name]``."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.asarray(_value(self.tree, values), dtype=np.float64)

    def scales_with(self, name: str) -> bool:
        """Whether the expression is ``name`` times something that does not involve it (so
        doubling ``name`` doubles the rate): checked on two values of every parameter."""
        probe = {n: 1.0 + 0.37 * i for i, n in enumerate(sorted(self.names))}
        if name not in probe:
            return False
        once = self.evaluate(probe)
        twice = self.evaluate({**probe, name: 2 * probe[name]})
        return bool(np.allclose(twice, 2 * once, rtol=1e-12, atol=0))


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """Parse and check ``text`` (once per text); a :class:`ValueError` says what is not
    allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ValueError(f"{node.value!r} is not a number")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ValueError("only + - * / ** are allowed")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ValueError("only + - * / ** are allowed")
        elif not isinstance(node, ast.operator | ast.unaryop | ast.expr_context):
            raise ValueError(
                "only numbers, parameter names, + - * / ** and parentheses are allowed"
            )
    return Expression(text, tree, frozenset(names))


def _value(node: ast.expr, values: Mapping[str, np.ndarray | float]) -> np.ndarray | float:
    if isinstance(node, ast.Constant):  # NumPy numbers: 1 / 0 is inf, not an exception
        try:
            return np.float64(node.value)
        except OverflowError:  # an integer literal beyond floats
            return np.float64(np.inf)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, values), _value(node.right, values))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_value(node.operand, values))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse() refuses the rest
