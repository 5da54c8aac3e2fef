"""Conversion (toX/convertsToX), math, and boundary/precision functions."""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import ops
from .compiler import Ctx
from .dates import DAY, HOUR, MILLI, MINUTE, MONTH, SECOND, FPDateTime, parse_date_time, parse_time
from .functions import function
from .nodes import FHIRPathError
from .quantities import CALENDAR_UNITS, Quantity, _canonical

__all__: list[str] = []

_INT = re.compile(r"[+-]?\d+\Z")
_DEC = re.compile(r"[+-]?\d+(\.\d+)?\Z")
_QUANTITY = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-z]+))?\Z")


def _to_boolean(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {1: True, 0: False}.get(v)
    if isinstance(v, Decimal):
        return {Decimal(1): True, Decimal(0): False}.get(v)
    if isinstance(v, str):
        low = v.lower()
        if low in ("true", "t", "yes", "y", "1", "1.0"):
            return True
        if low in ("false", "f", "no", "n", "0", "0.0"):
            return False
    return None


def _to_integer(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _INT.match(v):
        return int(v)
    return None


def _to_decimal(v: Any) -> Decimal | None:
    if isinstance(v, bool):
        return Decimal(int(v))
    if isinstance(v, (int, Decimal)):
        return Decimal(v)
    if isinstance(v, str) and _DEC.match(v):
        return Decimal(v)
    return None


def format_value(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, FPDateTime):
        return str(v)
    if isinstance(v, Quantity):
        return f"{v.value} '{v.unit}'" if v.unit not in CALENDAR_UNITS else f"{v.value} {v.unit}"
    return None


def _to_date(v: Any) -> FPDateTime | None:
    if isinstance(v, FPDateTime):
        return v.to_kind("date") if v.kind != "time" else None
    if isinstance(v, str):
        dt = parse_date_time(v)
        return dt.to_kind("date") if dt is not None else None
    return None


def _to_datetime(v: Any) -> FPDateTime | None:
    if isinstance(v, FPDateTime):
        return v.to_kind("dateTime") if v.kind != "time" else None
    if isinstance(v, str):
        dt = parse_date_time(v)
        return dt.to_kind("dateTime") if dt is not None else None
    return None


def _to_time(v: Any) -> FPDateTime | None:
    if isinstance(v, FPDateTime):
        return v if v.kind == "time" else None
    if isinstance(v, str):
        return parse_time(v)
    return None


def _to_quantity(v: Any) -> Quantity | None:
    if isinstance(v, Quantity):
        return v
    if isinstance(v, bool):
        return Quantity(Decimal(int(v)), "1")
    if isinstance(v, (int, Decimal)):
        return Quantity(Decimal(v), "1")
    if isinstance(v, str):
        m = _QUANTITY.match(v.strip())
        if m is None:
            return None
        number, ucum, word = m.groups()
        if word is not None and word not in CALENDAR_UNITS:
            return None
        return Quantity(Decimal(number), ucum or word or "1")
    return None


def _to_string(v: Any) -> str | None:
    return format_value(v)


_CONVERTERS = {
    "Boolean": _to_boolean,
    "Integer": _to_integer,
    "Decimal": _to_decimal,
    "String": _to_string,
    "Date": _to_date,
    "DateTime": _to_datetime,
    "Time": _to_time,
    "Quantity": _to_quantity,
}


def _register(type_name: str, convert: Any) -> None:
    def to(ctx: Ctx, focus: list[Any], unit: list[Any] | None = None) -> list[Any]:
        v = ops.singleton(focus, f"input of to{type_name}()")
        if v is None:
            return []
        r = convert(v)
        if r is not None and unit is not None and type_name == "Quantity":
            target = ops.singleton(unit)
            r = r.convert(target) if target is not None else r
        return [] if r is None else [r]

    def converts(ctx: Ctx, focus: list[Any], unit: list[Any] | None = None) -> list[Any]:
        v = ops.singleton(focus, f"input of convertsTo{type_name}()")
        if v is None:
            return []
        return [convert(v) is not None]

    nargs = (0, 1) if type_name == "Quantity" else 0
    function(f"to{type_name}", nargs)(to)
    function(f"convertsTo{type_name}", nargs)(converts)


for _name, _convert in _CONVERTERS.items():
    _register(_name, _convert)


@function("toLong")
def _to_long(ctx: Ctx, focus: list[Any]) -> list[Any]:
    v = ops.singleton(focus)
    r = None if v is None else _to_integer(v)
    return [] if r is None else [r]


# -- math ---------------------------------------------------------------------------------------


def _number(focus: list[Any], fname: str) -> Any:
    v = ops.singleton(focus, f"input of {fname}()")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, Decimal, Quantity)):
        raise FHIRPathError(f"{fname}() needs a number")
    return v


def _math(name: str, body: Any, nargs: int = 0) -> None:
    def impl(ctx: Ctx, focus: list[Any], *args: list[Any]) -> list[Any]:
        v = _number(focus, name)
        if v is None:
            return []
        values = [ops.singleton(a) for a in args]
        if any(x is None for x in values):
            return []
        try:
            r = body(v, *values)
        except (InvalidOperation, ValueError, ArithmeticError, OverflowError):
            return []
        return [] if r is None else [r]

    function(name, nargs)(impl)


def _abs(v: Any) -> Any:
    return Quantity(abs(v.value), v.unit) if isinstance(v, Quantity) else abs(v)


def _round(v: Any, digits: Any = 0) -> Decimal:
    if not isinstance(digits, int) or digits < 0:
        raise FHIRPathError("round() precision must be a non-negative Integer")
    return Decimal(v).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _sqrt(v: Any) -> Decimal | None:
    return (
        None
        if v < 0
        else Decimal(v).sqrt().normalize()
        if Decimal(v).sqrt() != int(Decimal(v).sqrt())
        else Decimal(int(Decimal(v).sqrt()))
    )


def _ln(v: Any) -> Decimal | None:
    return None if v <= 0 else Decimal(v).ln()


def _log(v: Any, base: Any) -> Decimal | None:
    if v <= 0 or base <= 0 or base == 1:
        return None
    return Decimal(math.log(float(v), float(base)))


def _power(v: Any, exp: Any) -> Any:
    if isinstance(v, int) and isinstance(exp, int) and not isinstance(exp, bool):
        return v**exp if exp >= 0 else Decimal(v) ** exp
    if v < 0 and Decimal(exp) != int(exp):
        return None
    r = Decimal(v) ** Decimal(exp)
    return r


_math("abs", _abs)
_math("ceiling", lambda v: int(Decimal(v).to_integral_value(ROUND_CEILING)))
_math("floor", lambda v: int(Decimal(v).to_integral_value(ROUND_FLOOR)))
_math("truncate", lambda v: int(Decimal(v).to_integral_value(ROUND_DOWN)))
_math("exp", lambda v: Decimal(v).exp())
_math("ln", _ln)
_math("log", _log, 1)
_math("power", _power, 1)
_math("sqrt", _sqrt)
function("round", (0, 1))(
    lambda ctx, focus, digits=None: (
        []
        if _number(focus, "round") is None
        else [_round(_number(focus, "round"), 0 if digits is None else ops.singleton(digits))]
    )
)


# -- boundaries and precision -------------------------------------------------------------------

_DT_DIGITS = {4: 0, 6: 1, 8: 2, 10: 3, 12: 4, 14: 5, 17: 6}
_TIME_DIGITS = {2: 3, 4: 4, 6: 5, 9: 6}
_FIELD_DIGITS = [4, 6, 8, 10, 12, 14, 17]
_TIME_FIELD_DIGITS = {3: 2, 4: 4, 5: 6, 6: 9}


def _decimal_places(v: Decimal) -> int:
    exp = v.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _boundary_decimal(v: Decimal, precision: int | None, high: bool) -> Decimal | None:
    precision = 8 if precision is None else precision
    if precision < 0 or precision > 28:
        return None
    half = Decimal(5).scaleb(-_decimal_places(v) - 1)
    b = v + half if high else v - half
    step = Decimal(1).scaleb(-precision)
    if abs(b) < step and precision < _decimal_places(v):
        return Decimal(0).quantize(step).copy_sign(b) if v < 0 and not high else Decimal(0).quantize(step)
    return b.quantize(step, rounding=ROUND_CEILING if high else ROUND_FLOOR)


def _boundary_datetime(v: FPDateTime, precision: int | None, high: bool) -> FPDateTime | None:
    if v.kind == "time":
        precision = 9 if precision is None else precision
        last = _TIME_DIGITS.get(precision)
        if last is None:
            return None
        last += 3
        start = HOUR
    else:
        precision = 17 if precision is None else precision
        last = _DT_DIGITS.get(precision)
        if last is None:
            return None
        start = 0
    low_fill = [1, 1, 1, 0, 0, 0, 0]
    high_fill = [9999, 12, None, 23, 59, 59, 999]
    fields = list(v.fields)
    for i in range(start, 7):
        if i > last:
            fields[i] = None
        elif fields[i] is None:
            if high:
                if i == DAY:
                    import calendar

                    fields[i] = calendar.monthrange(fields[0], fields[MONTH])[1]  # type: ignore[arg-type]
                else:
                    fields[i] = high_fill[i]
            else:
                fields[i] = low_fill[i]
    kind = v.kind
    tz = v.tz
    if kind != "time":
        if last >= HOUR:
            kind = "dateTime"
            if tz is None:
                tz = -12 * 60 if high else 14 * 60
        else:
            kind = "date" if v.kind == "date" or last <= DAY else kind
            tz = None if kind == "date" else tz
    return FPDateTime(kind, fields, tz)


def _boundary(high: bool) -> Any:
    def impl(ctx: Ctx, focus: list[Any], precision: list[Any] | None = None) -> list[Any]:
        v = ops.singleton(focus)
        if v is None:
            return []
        p = ops.singleton(precision) if precision is not None else None
        if isinstance(v, bool):
            return []
        if isinstance(v, (int, Decimal)):
            r = _boundary_decimal(Decimal(v), p, high)
        elif isinstance(v, Quantity):
            d = _boundary_decimal(v.value, p, high)
            r = None if d is None else Quantity(d, v.unit)
        elif isinstance(v, FPDateTime):
            r = _boundary_datetime(v, p, high)
        else:
            return []
        return [] if r is None else [r]

    return impl


function("lowBoundary", (0, 1))(_boundary(False))
function("highBoundary", (0, 1))(_boundary(True))


@function("precision")
def _precision(ctx: Ctx, focus: list[Any]) -> list[Any]:
    v = ops.singleton(focus)
    if v is None:
        return []
    if isinstance(v, Decimal):
        return [_decimal_places(v)]
    if isinstance(v, int) and not isinstance(v, bool):
        return [0]
    if isinstance(v, FPDateTime):
        if v.kind == "time":
            return [_TIME_FIELD_DIGITS[v.precision]]
        return [_FIELD_DIGITS[v.precision]]
    return []


@function("comparable", 1)
def _comparable(ctx: Ctx, focus: list[Any], other: list[Any]) -> list[Any]:
    a, b = ops.singleton(focus), ops.singleton(other)
    if not isinstance(a, Quantity) or not isinstance(b, Quantity):
        return []
    ca, cb = _canonical(a.ucum()), _canonical(b.ucum())
    return [ca is not None and cb is not None and ca[1] == cb[1]]


__all__ += ["format_value", "MILLI", "MINUTE", "SECOND"]
