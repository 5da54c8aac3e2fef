"""FHIRPath operators on items: equality, equivalence, ordering, arithmetic, booleans.

https://hl7.org/fhirpath/N1/#operations. ``None`` stands for "empty" (unknown) in the
three-valued results.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import dates, quantities
from .dates import FPDateTime, parse_date_time, parse_time
from .nodes import FHIRPathError, Node, system_value
from .quantities import Quantity

__all__ = ["compare", "equal", "equivalent", "singleton", "to_boolean"]

_NUMBER = (int, Decimal)


def singleton(coll: list[Any], what: str = "operand") -> Any:
    """The System value of a 0/1-item collection; None when empty."""
    if not coll:
        return None
    if len(coll) > 1:
        raise FHIRPathError(f"{what} must be a single item, got {len(coll)}")
    return system_value(coll[0])


def to_boolean(coll: list[Any]) -> bool | None:
    """Singleton evaluation as Boolean (spec 4.5)."""
    if not coll:
        return None
    if len(coll) > 1:
        raise FHIRPathError(f"expected a single Boolean, got a collection of {len(coll)}")
    v = coll[0]
    if v.__class__ is Node:
        v = v.value
    if v is True or v is False:
        return v
    if v is None:
        return None
    return True


def _coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Make a string comparable with a date/time when the other side is one."""
    if a.__class__ is str and isinstance(b, FPDateTime):
        a = (parse_time(a) if b.kind == "time" else parse_date_time(a)) or a
    elif b.__class__ is str and isinstance(a, FPDateTime):
        b = (parse_time(b) if a.kind == "time" else parse_date_time(b)) or b
    return a, b


def equal(a: Any, b: Any) -> bool | None:
    """``=`` on two items (spec 6.1.1); None when unknown."""
    if a.__class__ is Node and b.__class__ is Node and isinstance(a.value, dict):
        return isinstance(b.value, dict) and _json_equal(a.value, b.value)
    a, b = system_value(a), system_value(b)
    if a is None or b is None:
        return None
    ca, cb = a.__class__, b.__class__
    if ca is cb and ca is not FPDateTime and ca is not Quantity and ca is not Node:
        return a == b
    if ca in _NUMBER and cb in _NUMBER:
        return a == b
    a, b = _coerce_pair(a, b)
    if isinstance(a, FPDateTime) and isinstance(b, FPDateTime):
        if (a.kind == "time") != (b.kind == "time"):
            return False
        c = dates.compare(a, b)
        return None if c is None else c == 0
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        c = quantities.compare(a, b)
        return None if c is None else c == 0
    if isinstance(a, Node) and isinstance(b, Node):
        return _json_equal(a.value, b.value)
    return False


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return False
        ka = {k for k in a if k != "id"}
        kb = {k for k in b if k != "id"}
        return ka == kb and all(_json_equal(a[k], b[k]) for k in ka)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, (float, Decimal)) or isinstance(b, (float, Decimal)):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except (InvalidOperation, ValueError):
            return False
    return a == b


_WS = re.compile(r"\s+")


def equivalent(a: Any, b: Any) -> bool:
    """``~`` on two items (spec 6.1.3)."""
    if a.__class__ is Node and b.__class__ is Node and isinstance(a.value, dict):
        return isinstance(b.value, dict) and _json_equivalent(a.value, b.value)
    a, b = system_value(a), system_value(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return _WS.sub(" ", a.strip()).lower() == _WS.sub(" ", b.strip()).lower()
    if a.__class__ in _NUMBER and b.__class__ in _NUMBER:
        digits = min(_decimals(a), _decimals(b))
        return round(Decimal(a), digits) == round(Decimal(b), digits)
    a, b = _coerce_pair(a, b)
    if isinstance(a, FPDateTime) and isinstance(b, FPDateTime):
        if (a.kind == "time") != (b.kind == "time"):
            return False
        return dates.compare(a, b) == 0 and a.precision_class() == b.precision_class()
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return quantities.compare(a, b, equivalence=True) == 0
    if isinstance(a, Node) and isinstance(b, Node):
        return _json_equivalent(a.value, b.value)
    return a.__class__ is b.__class__ and a == b


def _json_equivalent(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return False
        ka = {k for k in a if k != "id"}
        kb = {k for k in b if k != "id"}
        return ka == kb and all(_json_equivalent(a[k], b[k]) for k in ka)
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(any(_json_equivalent(x, y) for y in b) for x in a)
        )
    if isinstance(a, str) and isinstance(b, str):
        return _WS.sub(" ", a.strip()).lower() == _WS.sub(" ", b.strip()).lower()
    return _json_equal(a, b)


def _decimals(value: Any) -> int:
    if isinstance(value, int):
        return 0
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def compare(a: Any, b: Any) -> int | None:
    """Ordering for ``< > <= >=``; None when unknown; error on incomparable types."""
    ca, cb = a.__class__, b.__class__
    if ca in _NUMBER and cb in _NUMBER and ca is not bool and cb is not bool:
        return 0 if a == b else (-1 if a < b else 1)
    if ca is str and cb is str:
        return 0 if a == b else (-1 if a < b else 1)
    a, b = _coerce_pair(a, b)
    if isinstance(a, FPDateTime) and isinstance(b, FPDateTime):
        try:
            return dates.compare(a, b)
        except TypeError as exc:
            raise FHIRPathError(str(exc)) from exc
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        c = quantities.compare(a, b)
        if c is None and a.ucum() != b.ucum() and a.canonical() and b.canonical():
            if a.canonical()[1] != b.canonical()[1]:  # type: ignore[index]
                raise FHIRPathError(f"cannot compare {a} with {b}")
        return c
    raise FHIRPathError(f"cannot compare {_tname(a)} with {_tname(b)}")


def _tname(v: Any) -> str:
    return getattr(v, "kind", None) or v.__class__.__name__


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """The result of ``a op b`` on System values; None for empty."""
    ca, cb = a.__class__, b.__class__
    if ca is bool or cb is bool:
        raise FHIRPathError(f"cannot apply '{op}' to Boolean")
    if ca in _NUMBER and cb in _NUMBER:
        return _numeric(op, a, b)
    if op == "+" and ca is str and cb is str:
        return a + b
    if isinstance(a, FPDateTime) and isinstance(b, Quantity) and op in "+-":
        amount = b.value if op == "+" else -b.value
        if (
            b.unit not in dates._CAL_UNIT
            or b.value != int(b.value)
            and b.unit not in ("s", "second", "seconds")
        ):
            if b.unit not in dates._CAL_UNIT:
                raise FHIRPathError(f"cannot add '{b.unit}' to a date/time")
        try:
            return dates.add_duration(a, amount, b.unit)
        except ValueError as exc:
            raise FHIRPathError(str(exc)) from exc
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        if op in "+-":
            other = b.convert(a.unit)
            if other is None:
                other_a = a.convert(b.unit)
                if other_a is None:
                    return None
                a, other = other_a, b
            value = a.value + other.value if op == "+" else a.value - other.value
            return Quantity(value, a.unit)
        if op in "*/":
            return quantities.multiply(a, b, divide=op == "/")
    if isinstance(a, Quantity) and cb in _NUMBER and op in "*/":
        if op == "/" and b == 0:
            return None
        return Quantity(a.value * b if op == "*" else a.value / Decimal(b), a.unit)
    if ca in _NUMBER and isinstance(b, Quantity) and op == "*":
        return Quantity(b.value * a, b.unit)
    raise FHIRPathError(f"cannot apply '{op}' to {_tname(a)} and {_tname(b)}")


def _numeric(op: str, a: Any, b: Any) -> Any:
    both_int = a.__class__ is int and b.__class__ is int
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return None
        return _trim(Decimal(a) / Decimal(b))
    if op == "div":
        if b == 0:
            return None
        q = abs(Decimal(a)) // abs(Decimal(b))
        q = q if (a >= 0) == (b >= 0) else -q
        return int(q) if both_int else Decimal(int(q))
    if op == "mod":
        if b == 0:
            return None
        r = abs(Decimal(a)) % abs(Decimal(b))
        r = r if a >= 0 else -r
        return int(r) if both_int else r
    raise FHIRPathError(f"unknown operator {op}")


def _trim(value: Decimal) -> Decimal:
    """Keep results readable: 1.0/3 has 8 significant fraction digits like other engines."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1)) if abs(value) < Decimal("1e28") else value
    return value.normalize() if len(value.as_tuple().digits) <= 28 else value
