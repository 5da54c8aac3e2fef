"""FHIR date, dateTime and instant values as ranges of epoch microseconds.

A value covers the whole period its precision names (``2024`` is the year 2024):
:func:`date_range` gives its first and last microsecond (UTC, inclusive); a time
without a zone is taken as UTC. Used by search (https://hl7.org/fhir/R4/search.html#date)
and by validation (the Period invariant per-1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

__all__ = ["MAX_MICROS", "MIN_MICROS", "date_range"]

MIN_MICROS = -(2**62)  # an open start (Period without start)
MAX_MICROS = 2**62  # an open end

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


@lru_cache(maxsize=65536)
def date_range(text: str) -> tuple[int, int] | None:
    """``(first, last)`` epoch microseconds of a FHIR date/dateTime/instant, or None."""
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    try:
        y = int(m["y"])
        if m["m"] is None:
            start = datetime(y, 1, 1, tzinfo=UTC)
            end = datetime(y + 1, 1, 1, tzinfo=UTC) if y < 9999 else None
        elif m["d"] is None:
            mo = int(m["m"])
            start = datetime(y, mo, 1, tzinfo=UTC)
            end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=UTC) if (y, mo) < (9999, 12) else None
        else:
            day = datetime(y, int(m["m"]), int(m["d"]), tzinfo=UTC)
            if m["H"] is None:
                start, end = day, day + timedelta(days=1) if day.year < 9999 or day.month < 12 else None
            else:
                tz = m["tz"]
                offset = timedelta(0)
                if tz and tz != "Z":
                    sign = -1 if tz[0] == "-" else 1
                    offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
                hour, minute = int(m["H"]), int(m["M"] or 0)
                second = int(m["S"] or 0)
                frac = m["f"]
                micro = int((frac[1:] + "000000")[:6]) if frac else 0
                start = (
                    day + timedelta(hours=hour, minutes=minute, seconds=second, microseconds=micro) - offset
                )
                if frac:
                    digits = min(len(frac) - 1, 6)
                    step = timedelta(microseconds=10 ** (6 - digits))
                elif m["S"] is not None:
                    step = timedelta(seconds=1)
                elif m["M"] is not None:
                    step = timedelta(minutes=1)
                else:
                    step = timedelta(hours=1)
                end = start + step
    except (ValueError, OverflowError):
        return None
    low = _micros(start)
    high = _micros(end) - 1 if end is not None else MAX_MICROS
    return low, high

