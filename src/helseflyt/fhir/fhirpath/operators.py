"""Binary operators on collections (https://hl7.org/fhirpath/N1/#operations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ops
from .nodes import FHIRPathError, Node, system_value

__all__ = ["compile_binary", "distinct", "union"]

Fn = Callable[[Any, list[Any]], list[Any]]


def _collection_equal(left: list[Any], right: list[Any]) -> bool | None:
    if not left or not right:
        return None
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        r = ops.equal(a, b)
        if r is None:
            return None
        if not r:
            return False
    return True


def _collection_equivalent(left: list[Any], right: list[Any]) -> bool:
    if len(left) != len(right):
        return False
    return all(any(ops.equivalent(a, b) for b in right) for a in left)


def contains_item(coll: list[Any], item: Any) -> bool:
    return any(ops.equal(item, x) is True for x in coll)


def distinct(coll: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in coll:
        if not contains_item(out, x):
            out.append(x)
    return out


def union(left: list[Any], right: list[Any]) -> list[Any]:
    return distinct(left + right)


def _logic(op: str, a: bool | None, b: bool | None) -> bool | None:
    if op == "and":
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if op == "or":
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if op == "xor":
        return None if a is None or b is None else a != b
    # implies
    if a is False:
        return True
    if a is True:
        return b
    return True if b is True else None


def compile_binary(op: str, left: Fn, right: Fn, literal: Any = None) -> Fn:  # noqa: C901
    """``literal`` is the right operand's value when it is a String literal (fast path)."""
    if op in ("=", "!=") and literal.__class__ is str:
        negate = op == "!="
        lit = [literal]

        def eq_string(ctx: Any, focus: list[Any]) -> list[Any]:
            coll = left(ctx, focus)
            if len(coll) == 1:
                v = coll[0]
                if v.__class__ is Node:
                    v = v.value
                if v.__class__ is str and not v[:1].isdigit():
                    return [(v == literal) != negate]
            r = _collection_equal(coll, lit)
            return [] if r is None else [r != negate]

        return eq_string
    if op in ("=", "!="):
        negate = op == "!="

        def eq(ctx: Any, focus: list[Any]) -> list[Any]:
            r = _collection_equal(left(ctx, focus), right(ctx, focus))
            return [] if r is None else [r != negate]

        return eq
    if op in ("~", "!~"):
        negate = op == "!~"
        return lambda ctx, focus: [_collection_equivalent(left(ctx, focus), right(ctx, focus)) != negate]
    if op in ("<", ">", "<=", ">="):
        test = {"<": lambda c: c < 0, ">": lambda c: c > 0, "<=": lambda c: c <= 0, ">=": lambda c: c >= 0}[
            op
        ]

        def compare(ctx: Any, focus: list[Any]) -> list[Any]:
            a = ops.singleton(left(ctx, focus))
            b = ops.singleton(right(ctx, focus))
            if a is None or b is None:
                return []
            c = ops.compare(a, b)
            return [] if c is None else [test(c)]

        return compare
    if op in ("+", "-", "*", "/", "div", "mod"):

        def arithmetic(ctx: Any, focus: list[Any]) -> list[Any]:
            a = ops.singleton(left(ctx, focus))
            b = ops.singleton(right(ctx, focus))
            if a is None or b is None:
                return []
            r = ops.arithmetic(op, a, b)
            return [] if r is None else [r]

        return arithmetic
    if op == "&":

        def concat(ctx: Any, focus: list[Any]) -> list[Any]:
            a = ops.singleton(left(ctx, focus))
            b = ops.singleton(right(ctx, focus))
            return [("" if a is None else str(a)) + ("" if b is None else str(b))]

        return concat
    if op == "|":
        return lambda ctx, focus: union(left(ctx, focus), right(ctx, focus))
    if op in ("and", "or", "xor", "implies"):

        def logic(ctx: Any, focus: list[Any]) -> list[Any]:
            a = ops.to_boolean(left(ctx, focus))
            if op == "and" and a is False or op == "or" and a is True:
                return [a]
            if op == "implies" and a is False:
                return [True]
            r = _logic(op, a, ops.to_boolean(right(ctx, focus)))
            return [] if r is None else [r]

        return logic
    if op in ("in", "contains"):
        swap = op == "contains"

        def membership(ctx: Any, focus: list[Any]) -> list[Any]:
            item, coll = left(ctx, focus), right(ctx, focus)
            if swap:
                item, coll = coll, item
            if not item:
                return []
            if len(item) > 1:
                raise FHIRPathError(f"'{op}' needs a single item")
            return [contains_item(coll, item[0])]

        return membership
    raise FHIRPathError(f"unknown operator {op}", "syntax")


def as_values(coll: list[Any]) -> list[Any]:
    return [system_value(x) for x in coll if not (x.__class__ is Node and x.value is None)]
