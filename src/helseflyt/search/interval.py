"""Bounded date interval searches: a redundant driving clause for narrow date ranges.

A range-type date criterion (``gt ge lt le sa eb ap``) alone matches an open half of
all rows; ``date=ge<day>&date=lt<next day>`` is an AND of two such halves, and no index
bounds an interval overlap. But together the clauses on one parameter imply that the
resource's envelope ``[L, H]`` (min low, max high of its rows of that parameter) has
``H >= start`` and ``L <= end``. If the envelope's span class is ``k`` (``H <= L +
SPAN_BOUNDS[k]``), then ``start - SPAN_BOUNDS[k] <= L <= end``: the row holding ``L``
lies in an index range of ``(res_type, param, span, low)``. The long class is read in
full (open-ended and wide periods, few). So the clause below matches a superset of the
resources the date clauses match, never misses one, and reads only rows near the
interval; the original clauses still decide (probed per driven row). Added only when the
interval is narrow (``NARROW``), where it drives (sql_search ``_rank``).
"""

from __future__ import annotations

from collections.abc import Sequence

from helseflyt.storage.query import LONG_SPAN, SPAN_BOUNDS, AnyClause, Clause, Test

__all__ = ["NARROW", "interval_drivers"]

NARROW = 31 * 86_400_000_000  # widest interval (µs) that gets a bounded driver


def _bounds(alt: tuple[Test, ...]) -> tuple[int | None, int | None]:
    """What a row passing ``alt`` implies: (a lower bound of high, an upper bound of low)."""
    high_min: int | None = None
    low_max: int | None = None
    for t in alt:
        if t.op not in ("<", "<=", ">", ">=") or not isinstance(t.value, int):
            continue
        if t.op in (">", ">="):  # low >= v or high >= v: high >= v (low <= high)
            high_min = t.value if high_min is None else max(high_min, t.value)
        else:  # low <= v or high <= v: low <= v
            low_max = t.value if low_max is None else min(low_max, t.value)
    return high_min, low_max


def _clause_bounds(c: Clause) -> tuple[int | None, int | None]:
    """Bounds every matching resource's envelope meets: the loosest over alternatives."""
    found = [_bounds(alt) for alt in c.alternatives]
    highs = [h for h, _ in found]
    lows = [v for _, v in found]
    return (
        None if None in highs or not highs else min(h for h in highs if h is not None),
        None if None in lows or not lows else max(v for v in lows if v is not None),
    )


def _self_bounded(c: Clause) -> bool:
    """Every alternative bounds low on both sides (``eq``): already an index range scan."""
    return all(
        any(t.column == "low" and t.op in (">", ">=") for t in alt)
        and any(t.column == "low" and t.op in ("<", "<=") for t in alt)
        for alt in c.alternatives
    )


def driver(param: str, start: int, end: int) -> Clause:
    """Resources of ``param`` whose envelope may overlap ``[start, end]``."""
    alts = tuple(
        (Test("span", "=", k), Test("low", ">=", start - bound), Test("low", "<=", end))
        for k, bound in enumerate(SPAN_BOUNDS)
    )
    return Clause("date", param, (*alts, (Test("span", "=", LONG_SPAN),)))


def interval_drivers(clauses: Sequence[AnyClause]) -> tuple[Clause, ...]:
    """A bounded driver per date parameter whose clauses together imply a narrow interval."""
    by_param: dict[str, list[Clause]] = {}
    for c in clauses:
        if isinstance(c, Clause) and c.table == "date" and not c.negate and isinstance(c.param, str):
            if c.alternatives:
                by_param.setdefault(c.param, []).append(c)
    out = []
    for param, these in by_param.items():
        if any(_self_bounded(c) for c in these):
            continue
        starts, ends = zip(*(_clause_bounds(c) for c in these), strict=True)
        known_starts = [s for s in starts if s is not None]
        known_ends = [e for e in ends if e is not None]
        if not known_starts or not known_ends:
            continue
        start, end = max(known_starts), min(known_ends)
        if end - start <= NARROW:
            out.append(driver(param, start, end))
    return tuple(out)
