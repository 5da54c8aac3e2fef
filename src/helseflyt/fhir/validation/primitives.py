"""Checks of FHIR primitive values: JSON type, the official R4 regex, numeric ranges.

Each primitive type compiles to a :class:`Primitive`: ``ok(value)`` is the fast path
(one type test and, for strings, one pre-compiled regex match); ``message(value)``
explains a failure and runs only when ``ok`` is false.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from helseflyt.fhir import model

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Replacements for official regexes that are unsafe or insufficient in Python:
# - base64Binary's official ``(\s*([0-9a-zA-Z\+/=]){4}\s*)+`` backtracks exponentially
#   on long invalid input; we accept the same alphabet with whitespace anywhere and
#   require the non-whitespace length to be a multiple of 4 (see _base64_ok).
# - xhtml has no regex: the div must be the root element in the XHTML namespace.
_XHTML = re.compile(
    r"\s*<div\b[^>]*\bxmlns\s*=\s*[\"']http://www\.w3\.org/1999/xhtml[\"'][^>]*>.*</div>\s*",
    re.S,
)
_BASE64 = re.compile(r"[0-9a-zA-Z+/=\s]+")
_WS = re.compile(r"\s+")


def _calendar(match: Callable[[str], Any]) -> Callable[[str], Any]:
    """The regex match, plus a real calendar day (the R4 regexes accept 2023-02-30)."""

    def check(v: str) -> Any:
        m = match(v)
        if m is None or len(v) < 10:
            return m
        try:
            date(int(v[0:4]), int(v[5:7]), int(v[8:10]))
        except ValueError:
            return None
        return m

    return check


def _base64_ok(v: str) -> bool:
    return _BASE64.fullmatch(v) is not None and len(_WS.sub("", v)) % 4 == 0


@dataclass(frozen=True, slots=True)
class Primitive:
    name: str
    kind: str  # "str", "bool", "int", "decimal"
    ok: Callable[[Any], bool]
    match: Callable[[str], Any] | None  # not None iff valid (str kinds only)
    # Non-empty strings known valid (see _memo): callers test ``v in seen`` before
    # calling ``match``, which saves a call per repeated value.
    seen: set[str] | frozenset[str] = frozenset()

    def message(self, value: Any) -> tuple[str, str]:
        """(issue code, diagnostics) explaining why ``value`` is not a valid ``name``."""
        shown = _show(value)
        if value is None:
            return "structure", f"null is not a valid {self.name}"
        if self.kind == "str":
            if type(value) is not str:
                return "structure", f"{self.name} must be a JSON string, got {shown}"
            if value == "":
                return "value", f"empty string is not a valid {self.name} (omit the element)"
            if self.name == "xhtml":
                return "value", f"xhtml must be a <div> in the XHTML namespace, got {shown}"
            return "value", f"{shown} is not a valid {self.name}"
        if self.kind == "bool":
            return "structure", f"boolean must be JSON true or false, got {shown}"
        if not _is_number(value):
            return "structure", f"{self.name} must be a JSON number, got {shown}"
        if self.kind == "int":
            if type(value) is not int:
                return "value", f"{shown} is not a valid {self.name}: not a whole number"
            return "value", f"{shown} is out of range for {self.name}"
        return "value", f"{shown} is not a valid {self.name}"


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float or t is Decimal


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _int_ok(lo: int, hi: int) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        return type(v) is int and lo <= v <= hi

    return ok


def _decimal_ok(v: Any) -> bool:
    t = type(v)
    if t is int:
        return True
    if t is float:
        return math.isfinite(v)
    if t is Decimal:
        return v.is_finite()
    return False


def _bool_ok(v: Any) -> bool:
    return type(v) is bool


def _str_ok(match: Callable[[str], Any], seen: set[str] | frozenset[str]) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        # JSON never allows "" (https://hl7.org/fhir/R4/json.html#primitive), even
        # where the regex (uri: \S*) would.
        return type(v) is str and v != "" and (v in seen or match(v) is not None)

    return ok


# Valid values seen, per string primitive: codes, system URIs, displays and timestamps
# repeat across resources, and a set lookup costs far less than the regex. Validity is a
# function of the text alone, so the result is the same. Bounded: short values only,
# and at most _MEMO_SIZE of them per type (then the set is emptied and refills).
_MEMO_SIZE = 8192
_MEMO_LEN = 128


def _memo(match: Callable[[str], Any], valid: set[str]) -> Callable[[str], Any]:
    """``match``, adding the valid short values to ``valid`` (never tested here: the
    callers test the set themselves, see :attr:`Primitive.seen`)."""

    def check(v: str) -> Any:
        m = match(v)
        if m is not None and len(v) <= _MEMO_LEN:
            if len(valid) >= _MEMO_SIZE:
                valid.clear()
            valid.add(v)
        return m

    return check


@cache
def primitive(name: str) -> Primitive:
    """The compiled check of a primitive type (``KeyError`` if not a primitive)."""
    if name not in model.primitive_types():
        raise KeyError(name)
    if name == "boolean":
        return Primitive(name, "bool", _bool_ok, None)
    if name == "integer":
        return Primitive(name, "int", _int_ok(INT32_MIN, INT32_MAX), None)
    if name == "positiveInt":
        return Primitive(name, "int", _int_ok(1, INT32_MAX), None)
    if name == "unsignedInt":
        return Primitive(name, "int", _int_ok(0, INT32_MAX), None)
    if name == "decimal":
        return Primitive(name, "decimal", _decimal_ok, None)
    if name == "xhtml":
        match = _XHTML.fullmatch
    elif name == "base64Binary":

        def match(v: str) -> bool | None:
            return True if _base64_ok(v) else None
    else:
        regex = model.primitive_regex(name)
        if regex is None:  # pragma: no cover - every R4 string primitive has one
            raise KeyError(name)
        # re.ASCII: \s and \S as in the Java/XML Schema regexes the spec was written for.
        match = re.compile(regex, re.ASCII).fullmatch
        if name in ("date", "dateTime", "instant"):
            match = _calendar(match)
        seen: set[str] = set()
        match = _memo(match, seen)
        return Primitive(name, "str", _str_ok(match, seen), match, seen)
    return Primitive(name, "str", _str_ok(match, frozenset()), match)
