"""Values in rule conditions: literals, $parameters and =expressions over earlier facts.

`=active_order.mcg_per_28d * $increase_ratio` is parsed with Python's own `ast` (no eval) into a
small tree; `cds.rulebook.conditions` parses every value of a rule this way, once, at load.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from typing import Any

_PARAM = re.compile(r"\$([a-z][a-z0-9_]*)")
_VALUE = re.compile(r"\$[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?")   # a parameter, or a facts.yaml value: $status.x
_PARAM_PREFIX = "__param__"
_OPERATORS = {ast.Add: "$add", ast.Sub: "$sub", ast.Mult: "$mul", ast.Div: "$div"}
_ARITHMETIC = {"$add": operator.add, "$sub": operator.sub, "$mul": operator.mul, "$div": operator.truediv}


class ExpressionError(ValueError):
    """A value a rule file wrote that cannot be understood, with a hint when one helps."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Param:
    name: str


@dataclass(frozen=True)
class FieldRef:
    alias: str
    field: str


@dataclass(frozen=True)
class BinaryOp:
    op: str
    left: Value
    right: Value


Value = Literal | Param | FieldRef | BinaryOp


def parse_value(raw: Any) -> Value:
    """Parse one condition value as written in YAML; raises ExpressionError when it cannot be."""
    if isinstance(raw, str) and raw.startswith("="):
        return _parse_expression(raw[1:])
    if isinstance(raw, str) and raw.startswith("$"):
        if not _VALUE.fullmatch(raw):
            raise ExpressionError(f"'{raw}' is not a parameter name",
                                  "parameters are written $lower_case_name, facts.yaml values $status.name")
        return Param(raw[1:])
    return Literal(raw)


def references(value: Value) -> list[Param | FieldRef]:
    """Every parameter and fact field a value depends on."""
    if isinstance(value, BinaryOp):
        return references(value.left) + references(value.right)
    return [value] if isinstance(value, Param | FieldRef) else []


def constant(value: Value, parameters: dict[str, float]) -> float | None:
    """The number a value stands for when it uses no fact field (None when it does).

    Raises ZeroDivisionError for a constant division by zero.
    """
    if isinstance(value, Literal):
        return value.value if isinstance(value.value, int | float) and not isinstance(value.value, bool) else None
    if isinstance(value, Param):
        return parameters.get(value.name)
    if isinstance(value, BinaryOp):
        left, right = constant(value.left, parameters), constant(value.right, parameters)
        if left is None or right is None:
            return None
        return _ARITHMETIC[value.op](left, right)
    return None


def _parse_expression(text: str) -> Value:
    source = _PARAM.sub(lambda match: _PARAM_PREFIX + match.group(1), text.strip())
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"cannot parse expression '={text}': {error.msg}") from None
    return _convert(tree, text)


def _convert(node: ast.AST, text: str) -> Value:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Literal(node.value)
    if isinstance(node, ast.Name) and node.id.startswith(_PARAM_PREFIX):
        return Param(node.id[len(_PARAM_PREFIX):])
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return FieldRef(node.value.id, node.attr)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return BinaryOp(_OPERATORS[type(node.op)], _convert(node.left, text), _convert(node.right, text))
    raise ExpressionError(
        f"'={text}' may only use numbers, $parameters, alias.field and + - * /"
    )
