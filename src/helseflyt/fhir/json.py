"""FHIR JSON parsing and serialising that keeps decimal precision.

FHIR decimals are exact (``1.50`` must stay ``1.50``). orjson is fast but turns numbers
into floats, so a body whose numbers a float would alter (trailing zeros, exponents,
more than 15 significant digits) is parsed with :class:`decimal.Decimal` instead and
written back verbatim through :class:`orjson.Fragment`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

# A JSON number a float cannot round-trip textually: fraction ending in 0, an exponent,
# below 1e-5 (orjson writes 0.000001 as 1e-6), or 16+ digits (17+ digits and dots).
# Matched only outside strings is not needed: a false positive merely selects the exact
# (slower) parser.
_LOSSY_NUMBER = re.compile(
    rb"[:\[,]\s*-?(?:\d+(?:\.\d*0|(?:\.\d+)?[eE][-+]?\d+|\.0{5}\d*)|(?=[\d.]{17})\d+(?:\.\d+)?)\s*[,\]}]"
)

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = (orjson.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError)


def loads(data: bytes | str) -> Any:
    """Parse JSON; numbers that a float would alter become ``Decimal``."""
    if isinstance(data, str):
        data = data.encode()
    if _LOSSY_NUMBER.search(data):
        return json.loads(data, parse_float=Decimal)  # integers: int, as orjson
    return orjson.loads(data)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        # str() writes 0.0000001 as 1E-7: a fraction is written out in full instead, so
        # the text parsed comes back (trailing zeros included).
        exponent = obj.as_tuple().exponent
        text = format(obj, "f") if type(exponent) is int and exponent < 0 else str(obj)
        return orjson.Fragment(text.encode())
    raise TypeError(f"cannot serialise {type(obj).__name__} as FHIR JSON")


def dumps(obj: Any, *, pretty: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(obj, default=_default, option=option)
