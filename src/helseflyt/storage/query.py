"""The backend-neutral search query that ``Reader.search`` runs.

``helseflyt.search.plan`` turns FHIR search parameters into a :class:`SearchQuery`:
clauses over the index tables written by the store's indexer (see
:data:`helseflyt.storage.base.IndexRow`), made of small column tests. Each backend
compiles it to SQL (``storage/sql_search.py``); no FHIR semantics live in the compiler.

* A :class:`Clause` matches a resource when *some* index row of ``param`` in ``table``
  passes *one* of ``alternatives`` (each an AND of :class:`Test`); ``negate`` inverts
  that (``:not``, ``ne``, ``:missing=true``). An empty alternative passes any row, so
  ``Clause(table, param, ((),))`` is ``:missing=false``. ``param`` may be a tuple of
  parameter names (any of them: compartment membership), or of ``(type, name)`` pairs
  (a row counts with its own type's names only: ``Patient/[id]/*``).
* ``table="resource"`` tests the resource's own columns (``res_id``,
  ``last_updated``) instead of an index table.
* A :class:`Chain` matches a resource whose reference ``param`` points to a resource of
  one of ``target_types`` that matches ``clauses`` (chaining; ``_revinclude``).
* A :class:`Reverse` matches a resource that some resource of ``source_type`` matching
  ``clauses`` points to with its reference parameters ``params`` (``_has``,
  ``_include``).
* Clauses are ANDed. Results are ordered by ``sort`` keys (a resource's key is the
  smallest value of the parameter ascending, the largest descending; resources without
  one come last) then ``(type, id)``. ``cursor`` is a keyset cursor: the sort keys and
  ``(type, id)`` of the last entry of the previous page (or, ``backward``, of the first
  entry of the next page), so a page walk returns every match once even while others
  write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from helseflyt.storage.base import ResourceVersion

__all__ = [
    "LONG_SPAN",
    "OPS",
    "SPAN_BOUNDS",
    "Chain",
    "Clause",
    "Cursor",
    "Reverse",
    "SearchQuery",
    "SearchResult",
    "SortKey",
    "Test",
    "span_class",
]

# "prefix": starts with value; "contains": has value inside; "in": one of value (a tuple);
# "null" / "notnull": value ignored.
OPS = frozenset({"=", "<", "<=", ">", ">=", "prefix", "contains", "in", "null", "notnull"})

COLUMNS = {
    "resource": ("res_type", "res_id", "last_updated"),
    "token": ("system", "value"),
    "string": ("norm", "exact"),
    "date": ("low", "high", "span"),
    "number": ("value", "system", "code"),
    "reference": ("target_type", "target_id", "url"),
    "uri": ("value",),
    # one row per element instance of a composite parameter (search/composite.py)
    "composite": ("system1", "value1", "system2", "value2", "number2", "low2", "high2", "number3"),
}


# A date row's ``span``: the class of the envelope ``[min low, max high]`` of all rows of
# its resource and parameter: ``k`` if ``max high <= min low + SPAN_BOUNDS[k]``, else
# ``len(SPAN_BOUNDS)`` ("long": open-ended or wide periods, few). A narrow interval search
# reads, per class, only rows with ``low`` within its bound before the interval
# (search/interval.py). The migrations 007_date_span.sql repeat these bounds.
DAY = 86_400_000_000
SPAN_BOUNDS = (DAY, 31 * DAY, 366 * DAY)
LONG_SPAN = len(SPAN_BOUNDS)


def span_class(low: int, high: int) -> int:
    """The span class of an envelope ``[low, high]`` (epoch µs)."""
    for k, bound in enumerate(SPAN_BOUNDS):
        if high <= low + bound:
            return k
    return LONG_SPAN


@dataclass(frozen=True, slots=True)
class Test:
    column: str
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Clause:
    table: str
    param: str | tuple[str, ...] | tuple[tuple[str, str], ...]
    alternatives: tuple[tuple[Test, ...], ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Chain:
    param: str
    target_types: tuple[str, ...]
    clauses: tuple[AnyClause, ...]
    # Like a Clause's fields, for code that walks clauses looking at these two.
    table: ClassVar[str] = "chain"
    negate: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Reverse:
    source_type: str
    params: tuple[str, ...]
    clauses: tuple[AnyClause, ...]
    # ``clauses`` are one ``_id`` test naming resources this reader has just returned
    # (current, not deleted, allowed: an ``_include``'s page): their reference rows are
    # read by those ids without looking the resources up again.
    read: bool = False
    table: ClassVar[str] = "reverse"
    negate: ClassVar[bool] = False


AnyClause = Clause | Chain | Reverse


@dataclass(frozen=True, slots=True)
class SortKey:
    table: str
    param: str
    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    keys: tuple[Any, ...]  # one value (or None) per sort key
    type: str
    id: str
    backward: bool = False  # the page *before* this entry


@dataclass(frozen=True, slots=True)
class SearchQuery:
    types: tuple[str, ...]
    clauses: tuple[AnyClause, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 50
    cursor: Cursor | None = None
    total: bool = False  # also count all matches
    # Count at most this many (the default ``_total``): with more matches the result has
    # no total, and a broad search costs a bounded count, not one over the database.
    total_cap: int | None = None
    # The position of the clause that drives over one type, whatever its rank (the store
    # found it has the fewest rows: storage/sql.py ``_dense``); None: by rank.
    lead: int | None = None
    # Access control (storage/sql_access.py AccessFilter): ANDed by the compiler to every
    # match, count and inner search (chains, _has); None = no access control (open mode).
    access: Any = None
    # _contained: "false" (stored resources), "true" (resources contained in them), "both";
    # _containedType: "container" (return the containers) or "contained" (a contained match
    # comes back as a version of its container with type = the contained type and
    # id = "Container/id#local"). Contained searches take no sort and no "resource" clauses.
    contained: str = "false"
    contained_type: str = "container"


@dataclass(slots=True)
class SearchResult:
    versions: list[ResourceVersion] = field(default_factory=list)
    more: bool = False  # another page follows (in the direction of the cursor)
    total: int | None = None
    keys: list[tuple[Any, ...]] = field(default_factory=list)  # sort key values per version
