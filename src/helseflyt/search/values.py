"""Value normalisation shared by the indexer and the query parser.

* Strings are compared case- and accent-insensitively
  (https://hl7.org/fhir/R4/search.html#string): :func:`normalise` case-folds, removes
  combining marks after NFKD decomposition and collapses whitespace.
* Dates, dateTimes and instants are ranges (https://hl7.org/fhir/R4/search.html#date):
  :func:`date_range` (from :mod:`helseflyt.fhir.dates`) gives the first and last
  microsecond (epoch, UTC, inclusive) of the period a value's precision covers.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from helseflyt.fhir.dates import MAX_MICROS, MIN_MICROS, date_range

__all__ = ["MAX_MICROS", "MIN_MICROS", "date_range", "decimal_range", "normalise"]


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Case-folded text without accents (``Ærlig Østby`` -> ``ærlig østby``)."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def decimal_range(text: str) -> tuple[Decimal, Decimal, Decimal] | None:
    """``(value, low, high)`` of a decimal search value: the range its precision implies
    (``100`` -> [99.5, 100.5), ``1e2`` -> [50, 150))."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    half = Decimal(5).scaleb(value.as_tuple().exponent - 1)  # type: ignore[operator]
    return value, value - half, value + half
