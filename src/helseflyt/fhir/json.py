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
# or 16+ significant digits. Matched only outside strings is not needed: a false
# positive merely selects the exact (slower) parser.
_LOSSY_NUMBER = re.compile(rb"[:\[,]\s*-?\d+(?:\.\d*0|(?:\.\d+)?[eE][-+]?\d+|\.\d{15,}|\d{15,})\s*[,\]}]")

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = (orjson.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError)


def loads(data: bytes | str) -> Any:
    """Parse JSON; numbers that a float would alter become ``Decimal``."""
    if isinstance(data, str):
        data = data.encode()
    if _LOSSY_NUMBER.search(data):
        return json.loads(data, parse_float=Decimal, parse_int=_int)
    return orjson.loads(data)


def _int(text: str) -> int | Decimal:
    return int(text)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj).encode())
    raise TypeError(f"cannot serialise {type(obj).__name__} as FHIR JSON")


def dumps(obj: Any, *, pretty: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(obj, default=_default, option=option)
