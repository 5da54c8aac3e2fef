"""FHIRPath Quantity with a small UCUM core for comparison and arithmetic.

Covers the UCUM units clinical data and the FHIRPath suite use: metric prefixes on
g, m, L, s, mol, eq, and the time, imperial and percent units. A unit outside this set
still compares with itself (same code), but not with other units (result: empty).
Calendar durations (``4 days``) follow https://hl7.org/fhirpath/N1/#time-valued-quantities:
weeks and below equal their UCUM counterparts, years and months only are equivalent.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

__all__ = ["CALENDAR_UNITS", "Quantity"]

CALENDAR_UNITS = {
    "year": "a",
    "years": "a",
    "month": "mo",
    "months": "mo",
    "week": "wk",
    "weeks": "wk",
    "day": "d",
    "days": "d",
    "hour": "h",
    "hours": "h",
    "minute": "min",
    "minutes": "min",
    "second": "s",
    "seconds": "s",
    "millisecond": "ms",
    "milliseconds": "ms",
}

_PREFIX = {
    "Y": Decimal("1e24"),
    "Z": Decimal("1e21"),
    "E": Decimal("1e18"),
    "P": Decimal("1e15"),
    "T": Decimal("1e12"),
    "G": Decimal("1e9"),
    "M": Decimal("1e6"),
    "k": Decimal("1e3"),
    "h": Decimal("1e2"),
    "da": Decimal("1e1"),
    "d": Decimal("1e-1"),
    "c": Decimal("1e-2"),
    "m": Decimal("1e-3"),
    "u": Decimal("1e-6"),
    "n": Decimal("1e-9"),
    "p": Decimal("1e-12"),
    "f": Decimal("1e-15"),
}
# atom -> (factor, dimension vector {base: exponent}); metric atoms accept prefixes
_METRIC: dict[str, tuple[Decimal, dict[str, int]]] = {
    "g": (Decimal(1), {"g": 1}),
    "m": (Decimal(1), {"m": 1}),
    "s": (Decimal(1), {"s": 1}),
    "L": (Decimal("0.001"), {"m": 3}),
    "l": (Decimal("0.001"), {"m": 3}),
    "mol": (Decimal("6.0221367e23"), {}),
    "eq": (Decimal("6.0221367e23"), {}),
    "K": (Decimal(1), {"K": 1}),
    "Cel": (Decimal(1), {"K": 1}),
    "U": (Decimal(1), {"U": 1}),
    "[iU]": (Decimal(1), {"[iU]": 1}),
    "[IU]": (Decimal(1), {"[iU]": 1}),
    "Pa": (Decimal(1000), {"g": 1, "m": -1, "s": -2}),
    "bar": (Decimal(100000000), {"g": 1, "m": -1, "s": -2}),
}
_PLAIN: dict[str, tuple[Decimal, dict[str, int]]] = {
    "min": (Decimal(60), {"s": 1}),
    "h": (Decimal(3600), {"s": 1}),
    "d": (Decimal(86400), {"s": 1}),
    "wk": (Decimal(604800), {"s": 1}),
    "mo": (Decimal("2629800"), {"s": 1}),
    "a": (Decimal("31557600"), {"s": 1}),
    "%": (Decimal("0.01"), {}),
    "1": (Decimal(1), {}),
    "[lb_av]": (Decimal("453.59237"), {"g": 1}),
    "[oz_av]": (Decimal("28.349523125"), {"g": 1}),
    "[in_i]": (Decimal("0.0254"), {"m": 1}),
    "[ft_i]": (Decimal("0.3048"), {"m": 1}),
    "[mi_i]": (Decimal("1609.344"), {"m": 1}),
    "mm[Hg]": (Decimal("133322.387415"), {"g": 1, "m": -1, "s": -2}),
    "cm[H2O]": (Decimal("98066.5"), {"g": 1, "m": -1, "s": -2}),
}
_TERM = re.compile(r"([^.\/\d^+-]+|\d+(?=$|[./]))([+-]?\d+)?")


def _atom(text: str) -> tuple[Decimal, dict[str, int]] | None:
    if text in _PLAIN:
        return _PLAIN[text]
    if text in _METRIC:
        return _METRIC[text]
    for plen in (2, 1):
        prefix, rest = text[:plen], text[plen:]
        if prefix in _PREFIX and rest in _METRIC:
            factor, dims = _METRIC[rest]
            return _PREFIX[prefix] * factor, dims
    if text.isdigit():
        return Decimal(text), {}
    return None


def _canonical(unit: str) -> tuple[Decimal, tuple[tuple[str, int], ...]] | None:
    """Factor to base units and the dimension of a UCUM unit, or None if unknown."""
    unit = re.sub(r"\{[^}]*\}", "", unit) or "1"
    factor, dims = Decimal(1), {}
    sign = 1
    pos = 0
    for op, term in re.findall(r"(^|[./])([^./]+)", unit):
        if op == "/":
            sign = -1
        elif op == ".":
            sign = 1
        m = re.fullmatch(r"(.*?[^\d+-]|\d+)([+-]?\d+)?", term)
        if m is None:
            return None
        atom = _atom(m.group(1))
        if atom is None:
            return None
        exp = int(m.group(2) or 1) * sign
        factor *= atom[0] ** exp
        for base, power in atom[1].items():
            dims[base] = dims.get(base, 0) + power * exp
        pos += 1
    return factor, tuple(sorted((b, p) for b, p in dims.items() if p))


class Quantity:
    __slots__ = ("unit", "value")

    def __init__(self, value: Decimal | int, unit: str) -> None:
        self.value = value if isinstance(value, Decimal) else Decimal(value)
        self.unit = unit or "1"

    def __repr__(self) -> str:
        return f"{self.value} '{self.unit}'"

    __str__ = __repr__

    def ucum(self) -> str:
        return CALENDAR_UNITS.get(self.unit, self.unit)

    def is_calendar(self) -> bool:
        return self.unit in CALENDAR_UNITS

    def canonical(self) -> tuple[Decimal, tuple[tuple[str, int], ...]] | None:
        found = _canonical(self.ucum())
        if found is None:
            return None
        return self.value * found[0], found[1]

    def convert(self, unit: str) -> Quantity | None:
        if unit == self.unit:
            return self
        mine, theirs = _canonical(self.ucum()), _canonical(CALENDAR_UNITS.get(unit, unit))
        if mine is None or theirs is None or mine[1] != theirs[1]:
            return None
        return Quantity(self.value * mine[0] / theirs[0], unit)

    def __hash__(self) -> int:
        c = self.canonical()
        return hash(c[1] if c else self.unit)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Quantity) and compare(self, other, equal_only=True) == 0


_YEAR_MONTH = {"a", "mo"}


def compare(a: Quantity, b: Quantity, *, equal_only: bool = False, equivalence: bool = False) -> int | None:
    """-1/0/1, or None when the units cannot be compared."""
    if not equivalence and a.is_calendar() != b.is_calendar():
        # calendar years/months are not definite durations
        if a.ucum() in _YEAR_MONTH or b.ucum() in _YEAR_MONTH:
            return None
    if a.unit == b.unit:
        va, vb = a.value, b.value
    else:
        ca, cb = a.canonical(), b.canonical()
        if ca is None or cb is None or ca[1] != cb[1]:
            return None
        va, vb = ca[0], cb[0]
    if equivalence:
        digits = min(_decimals(a.value), _decimals(b.value))
        va, vb = round(va, digits), round(vb, digits)
    return 0 if va == vb else (-1 if va < vb else 1)


def _decimals(value: Decimal) -> int:
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def multiply(a: Quantity, b: Quantity, divide: bool = False) -> Quantity | None:
    ua, ub = a.ucum(), b.ucum()
    ca, cb = _canonical(ua), _canonical(ub)
    if ca is None or cb is None:
        return None
    if divide:
        if b.value == 0:
            return None
        value = a.value / b.value
        unit = "1" if ua == ub else (f"{ua}/{ub}" if ub != "1" else ua)
    else:
        value = a.value * b.value
        unit = ub if ua == "1" else ua if ub == "1" else f"{ua}.{ub}"
    if ua == ub and not divide and ua != "1":
        unit = f"{ua}2"
    return Quantity(value, unit)
