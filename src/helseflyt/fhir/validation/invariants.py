"""Invariants of data types checked directly (no FHIRPath engine in the validator yet).

per-1 (Period): ``start.hasValue().not() or end.hasValue().not() or (start <= end)``.
FHIRPath compares dates of different precision or zone only where they are certain
(``2020-05 <= 2020`` is empty, so the invariant holds); this check likewise refuses a
Period only when its start is certainly after its end: the first instant ``start``
can mean is later than the last one ``end`` can mean (a dateTime with a time always
has a zone in R4, so the instants are certain).
"""

from __future__ import annotations

from typing import Any

from helseflyt.fhir.dates import date_range
from helseflyt.fhir.validation.context import Ctx

__all__ = ["period_problem", "period_rule"]


def period_problem(obj: dict[str, Any]) -> str | None:
    """The diagnostics if the Period breaks per-1 (its start is after its end), else None."""
    start, end = obj.get("start"), obj.get("end")
    if type(start) is not str or type(end) is not str:
        return None
    first, last = date_range(start), date_range(end)
    if first is None or last is None:
        return None  # a malformed value is reported by its primitive check
    if first[0] > last[1]:
        return f"the period starts ({start}) after it ends ({end}) (per-1)"
    return None


def period_rule(obj: dict[str, Any], path: str, ctx: Ctx) -> None:
    """per-1: a Period's start is not after its end."""
    problem = period_problem(obj)
    if problem is not None:
        ctx.add("invariant", problem, path)
