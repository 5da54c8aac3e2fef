"""FHIRPath Date, DateTime and Time values with partial precision and time zones.

See https://hl7.org/fhirpath/N1/#datetime. A value keeps the fields it was written
with; comparing two values of different precision is *uncertain* (``None``) when they
agree on the fields both have. Seconds and milliseconds are one precision for
comparison (``@T10:30:00 = @T10:30:00.000`` is true).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from decimal import Decimal
from typing import Any

__all__ = ["FPDateTime", "parse_date_time", "parse_time"]

# field indexes: 0 year, 1 month, 2 day, 3 hour, 4 minute, 5 second, 6 millisecond
YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, MILLI = range(7)

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?"
    r"(T)?(Z|[+-]\d{2}:\d{2})?\Z"
)
_TIME = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\Z")


class FPDateTime:
    """A Date (``kind='date'``), DateTime or Time; ``fields`` holds 7 ints or None."""

    __slots__ = ("fields", "kind", "precision", "tz")

    def __init__(self, kind: str, fields: list[int | None], tz: int | None) -> None:
        self.kind = kind
        self.fields = fields
        self.tz = tz  # offset in minutes, None if unspecified
        precision = -1
        for i, value in enumerate(fields):
            if value is not None:
                precision = i
        self.precision = precision

    # -- text -------------------------------------------------------------------
    def __str__(self) -> str:
        f = self.fields
        parts: list[str] = []
        if self.kind != "time":
            parts.append(f"{f[YEAR]:04d}")
            if f[MONTH] is not None:
                parts.append(f"-{f[MONTH]:02d}")
            if f[DAY] is not None:
                parts.append(f"-{f[DAY]:02d}")
            if f[HOUR] is not None:
                parts.append("T")
        if f[HOUR] is not None:
            parts.append(f"{f[HOUR]:02d}")
            if f[MINUTE] is not None:
                parts.append(f":{f[MINUTE]:02d}")
            if f[SECOND] is not None:
                parts.append(f":{f[SECOND]:02d}")
            if f[MILLI] is not None:
                parts.append(f".{f[MILLI]:03d}")
        if self.kind == "dateTime" and self.tz is not None:
            if self.tz == 0:
                parts.append("Z")
            else:
                sign = "+" if self.tz > 0 else "-"
                parts.append(f"{sign}{abs(self.tz) // 60:02d}:{abs(self.tz) % 60:02d}")
        return "".join(parts)

    def __repr__(self) -> str:
        prefix = "@T" if self.kind == "time" else "@"
        return f"{prefix}{self}"

    def __hash__(self) -> int:
        return hash(str(self))

    def __eq__(self, other: object) -> bool:  # structural, for distinct()/tests
        return (
            isinstance(other, FPDateTime)
            and self.kind == other.kind
            and compare(self, other) == 0
            and self.precision_class() == other.precision_class()
        )

    def precision_class(self) -> int:
        return SECOND if self.precision == MILLI else self.precision

    # -- conversions -------------------------------------------------------------
    def _normalised(self) -> list[Any]:
        """Fields shifted to UTC when a zone is known and the value has a time part."""
        f: list[Any] = list(self.fields)
        if f[MILLI] is not None:
            f[SECOND] = Decimal(f[SECOND]) + Decimal(f[MILLI]) / 1000
        f[MILLI] = None
        if self.kind == "dateTime" and self.tz and f[HOUR] is not None:
            minute = f[MINUTE] or 0
            moment = _dt.datetime(f[YEAR], f[MONTH], f[DAY], f[HOUR], minute)
            moment -= _dt.timedelta(minutes=self.tz)
            f[YEAR], f[MONTH], f[DAY], f[HOUR] = moment.year, moment.month, moment.day, moment.hour
            if f[MINUTE] is not None:
                f[MINUTE] = moment.minute
        return f

    def to_kind(self, kind: str) -> FPDateTime:
        fields = list(self.fields)
        if kind == "date":
            fields[HOUR:] = [None] * 4
            return FPDateTime("date", fields, None)
        return FPDateTime(kind, fields, self.tz)


def compare(a: FPDateTime, b: FPDateTime) -> int | None:
    """-1/0/1, or None when precision makes the answer unknown."""
    if (a.kind == "time") != (b.kind == "time"):
        raise TypeError("cannot compare a Time with a Date/DateTime")
    fa, fb = a._normalised(), b._normalised()
    if (a.tz is None) != (b.tz is None) and a.fields[HOUR] is not None and b.fields[HOUR] is not None:
        return None
    start = HOUR if a.kind == "time" else YEAR
    pa, pb = a.precision_class(), b.precision_class()
    for i in range(start, SECOND + 1):
        va, vb = fa[i], fb[i]
        if va is None or vb is None:
            return 0 if va is None and vb is None else None
        if va != vb:
            return -1 if va < vb else 1
    return 0 if pa == pb else None


def parse_date_time(text: str, kind: str | None = None) -> FPDateTime | None:
    """Parse a FHIR date/dateTime/instant text (no leading ``@``)."""
    m = _DATETIME.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, t_marker, zone = m.groups()
    if h is not None and mi is None:
        mi = "00"  # hour-only (FHIRPath literal): read as hh:00, like other engines
    fields: list[int | None] = [int(y), _int(mo), _int(d), _int(h), _int(mi), _int(s), None]
    if frac is not None:
        fields[MILLI] = int((frac + "00")[:3])
    if mo is not None and not 1 <= int(mo) <= 12:
        return None
    if d is not None and not 1 <= int(d) <= calendar.monthrange(int(y), int(mo))[1]:
        return None
    if h is not None and (int(h) > 23 or int(mi) > 59 or (s is not None and int(s) > 59)):
        return None
    tz = None
    if zone is not None:
        tz = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
    if kind is None:
        kind = "dateTime" if (h is not None or t_marker or zone) else "date"
    if kind == "date" and (h is not None or zone):
        return None
    return FPDateTime(kind, fields, tz)


def parse_time(text: str) -> FPDateTime | None:
    m = _TIME.match(text)
    if m is None:
        return None
    h, mi, s, frac = m.groups()
    if int(h) > 23 or (mi is not None and int(mi) > 59) or (s is not None and int(s) > 59):
        return None
    fields: list[int | None] = [None, None, None, int(h), _int(mi), _int(s), None]
    if frac is not None:
        fields[MILLI] = int((frac + "00")[:3])
    return FPDateTime("time", fields, None)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


_CAL_UNIT = {
    "year": YEAR,
    "years": YEAR,
    "month": MONTH,
    "months": MONTH,
    "week": -1,
    "weeks": -1,
    "day": DAY,
    "days": DAY,
    "hour": HOUR,
    "hours": HOUR,
    "minute": MINUTE,
    "minutes": MINUTE,
    "second": SECOND,
    "seconds": SECOND,
    "millisecond": MILLI,
    "milliseconds": MILLI,
    "wk": -1,
    "d": DAY,
    "h": HOUR,
    "min": MINUTE,
    "s": SECOND,
    "ms": MILLI,
}
_SECONDS = {DAY: 86400, HOUR: 3600, MINUTE: 60, SECOND: 1}


def add_duration(value: FPDateTime, amount: Decimal | int, unit: str) -> FPDateTime:
    """``value + amount unit`` for calendar durations (spec 6.6.1)."""
    field = _CAL_UNIT.get(unit)
    if field is None:
        raise ValueError(f"cannot add a quantity in '{unit}' to a date/time")
    if field == -1:
        field, amount = DAY, amount * 7
    if value.kind == "time" and field < HOUR:
        raise ValueError("cannot add a calendar duration above hours to a Time")
    if value.kind == "date" and field >= HOUR:
        # convert to days, truncating
        amount = int(Decimal(amount) * _SECONDS[field] / 86400) if field < MILLI else 0
        field = DAY
    f = list(value.fields)
    prec = value.precision
    if field > prec:  # a finer unit than the value: express it in the value's precision
        if field >= DAY and prec >= DAY:
            secs = Decimal(amount) * (Decimal(1) / 1000 if field == MILLI else _SECONDS[field])
            amount, field = int(secs / _SECONDS[prec]), prec
        elif field == MONTH and prec == YEAR:
            amount, field = int(Decimal(amount) / 12), YEAR
        elif prec == YEAR:
            amount, field = int(Decimal(amount) * _SECONDS.get(field, Decimal("0.001")) / 86400 / 365), YEAR
        else:  # prec == MONTH
            amount, field = int(Decimal(amount) * _SECONDS.get(field, Decimal("0.001")) / 86400 / 30), MONTH
    amount = int(amount)
    if field in (YEAR, MONTH):
        months = f[YEAR] * 12 + (f[MONTH] or 1) - 1 + (amount * 12 if field == YEAR else amount)
        f[YEAR], month = divmod(months, 12)
        if f[MONTH] is not None:
            f[MONTH] = month + 1
            if f[DAY] is not None:
                f[DAY] = min(f[DAY], calendar.monthrange(f[YEAR], f[MONTH])[1])
        if not 1 <= f[YEAR] <= 9999:
            raise ValueError("date out of range")
        return FPDateTime(value.kind, f, value.tz)
    if value.kind == "time":
        base = _dt.datetime(2000, 1, 1, f[HOUR], f[MINUTE] or 0, f[SECOND] or 0, (f[MILLI] or 0) * 1000)
    else:
        base = _dt.datetime(
            f[YEAR],
            f[MONTH] or 1,
            f[DAY] or 1,
            f[HOUR] or 0,
            f[MINUTE] or 0,
            f[SECOND] or 0,
            (f[MILLI] or 0) * 1000,
        )
    delta = (
        _dt.timedelta(milliseconds=amount)
        if field == MILLI
        else _dt.timedelta(seconds=amount * _SECONDS[field])
    )
    moved = base + delta
    new = [
        moved.year,
        moved.month,
        moved.day,
        moved.hour,
        moved.minute,
        moved.second,
        moved.microsecond // 1000,
    ]
    out = [new[i] if f[i] is not None else None for i in range(7)]
    if value.kind == "time":
        out[:3] = [None, None, None]
    return FPDateTime(value.kind, out, value.tz)


def now(kind: str = "dateTime") -> FPDateTime:
    moment = _dt.datetime.now().astimezone()
    offset = moment.utcoffset()
    tz = int(offset.total_seconds() // 60) if offset is not None else 0
    fields: list[int | None] = [
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    ]
    if kind == "date":
        return FPDateTime("date", fields[:3] + [None] * 4, None)
    if kind == "time":
        return FPDateTime("time", [None, None, None] + fields[3:], None)
    return FPDateTime("dateTime", fields, tz)
